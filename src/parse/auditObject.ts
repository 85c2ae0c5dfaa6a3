import type { Readable } from "node:stream";
import { field, MAX_FIELD_CHARS } from "../cts/trace.js";
import type { AuditAlert, AuditRules } from "../detect/AuditRules.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import { describeError } from "../errors.js";
import { readTraceBuffer, readTraceFile } from "./readTraceFile.js";
import type { ReadTraceOptions, ReadTraceResult } from "./types.js";

/** One trace the rules audited: its time, its alerts (one per rule that fired), and its login attempt. */
export interface AuditMatch {
  time: number | null;
  alerts: AuditAlert[];
  /** A login success or failure with a time, for the windowed rules. */
  attempt?: Omit<LoginAttempt, "object" | "region">;
  /** The trace's own `region` field, when it has one. */
  region?: string;
}

/** What reading and auditing one object produced. */
export interface AuditedObject {
  result: ReadTraceResult;
  matches: AuditMatch[];
  /**
   * Traces the rules failed on (a defect, never expected: the rules take any JSON value), counted with the first
   * message; the traces after them were audited as usual.
   */
  traceErrors?: { count: number; first: string };
}

export type AuditReadOptions = Omit<ReadTraceOptions, "onTrace" | "prefilter">;

/**
 * Reads one object (a stream, or its bytes when small) and audits every trace with the rules, in one pass.
 */
export async function auditObject(
  input: Readable | Buffer,
  rules: AuditRules,
  options: AuditReadOptions,
): Promise<AuditedObject> {
  const matches: AuditMatch[] = [];
  let traceErrors: AuditedObject["traceErrors"];
  const read: ReadTraceOptions = {
    ...options,
    prefilter: rules.prefilter,
    onTrace: (raw) => {
      let outcome: ReturnType<AuditRules["audit"]>;
      try {
        outcome = rules.audit(raw);
      } catch (err) {
        // One trace must never cost the others: a throw here would end the file's reading.
        traceErrors ??= { count: 0, first: describeError(err) };
        traceErrors.count++;
        return;
      }
      if (!outcome.matched) return;
      const match: AuditMatch = { time: outcome.trace.time ?? null, alerts: outcome.alerts };
      if (outcome.attempt) match.attempt = outcome.attempt;
      const region = field(raw, "region");
      if (typeof region === "string") match.region = region.slice(0, MAX_FIELD_CHARS);
      matches.push(match);
    },
  };
  const result = Buffer.isBuffer(input)
    ? await readTraceBuffer(input, read)
    : await readTraceFile(input, read);
  return traceErrors ? { result, matches, traceErrors } : { result, matches };
}

/**
 * The alerts of one object's matches as a run keeps them: each with its region (the trace's own, else
 * `region`), the object's key, and integrity `unverified` (the file's verdict comes when it settles); in match
 * order. Key for key and in key order what `{ ...alert, region, object, integrity }` gives, but the match's own
 * alert objects are completed in place: they belong to this one reading of the object, and copying them cost an
 * object per alert on alert-heavy files.
 */
export function placeAlerts(matches: readonly AuditMatch[], region: string, object: string): Alert[] {
  const out: Alert[] = [];
  for (const m of matches) {
    const r = m.region ?? region;
    for (const alert of m.alerts) {
      const placed = alert as AuditAlert & Partial<Pick<Alert, "region" | "object" | "integrity">>;
      placed.region = r;
      placed.object = object;
      placed.integrity = "unverified";
      out.push(placed as Alert);
    }
  }
  return out;
}

/**
 * The login attempts of one object's matches, each with its region (the trace's own, else `region`) and the
 * object's key: what `{ ...attempt, region, object }` gives, completed in place as {@link placeAlerts} does.
 */
export function placeAttempts(
  matches: readonly AuditMatch[],
  region: string,
  object: string,
): LoginAttempt[] {
  const out: LoginAttempt[] = [];
  for (const m of matches) {
    if (!m.attempt) continue;
    const placed = m.attempt as AuditMatch["attempt"] & Partial<Pick<LoginAttempt, "region" | "object">>;
    placed.region = m.region ?? region;
    placed.object = object;
    out.push(placed as LoginAttempt);
  }
  return out;
}
