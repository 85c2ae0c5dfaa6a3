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

/** An object's matches as the engine keeps them: alerts and attempts placed in the object and its region. */
export interface PlacedMatches {
  /** Each audited trace's time, in file order. */
  times: Array<number | null>;
  alerts: Alert[];
  attempts: LoginAttempt[];
}

/**
 * Places an object's matches: every alert and attempt gets the object's key and its region (the trace's own, else
 * `region`), alerts the integrity `unverified`. The alerts and attempts are completed in place, not copied: an
 * alert-heavy file has tens of thousands, made for this object alone, and copies doubled what the collector moved.
 * The matches must not be used afterwards.
 */
export function placeMatches(matches: readonly AuditMatch[], object: string, region: string): PlacedMatches {
  const times: Array<number | null> = new Array<number | null>(matches.length);
  const alerts: Alert[] = [];
  const attempts: LoginAttempt[] = [];
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i]!;
    times[i] = m.time;
    const where = m.region ?? region;
    for (const alert of m.alerts) {
      const placed = alert as Alert;
      placed.region = where;
      placed.object = object;
      placed.integrity = "unverified";
      alerts.push(placed);
    }
    if (m.attempt) {
      const placed = m.attempt as LoginAttempt;
      placed.region = where;
      placed.object = object;
      attempts.push(placed);
    }
  }
  return { times, alerts, attempts };
}
