import type { Readable } from "node:stream";
import { field, MAX_FIELD_CHARS } from "../cts/trace.js";
import type { AuditAlert, AuditRules } from "../detect/AuditRules.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
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
