import type { Readable } from "node:stream";
import type { AuditRules } from "../detect/AuditRules.js";
import type { Alert } from "../detect/types.js";
import { readTraceBuffer, readTraceFile } from "./readTraceFile.js";
import type { ReadTraceOptions, ReadTraceResult } from "./types.js";

/** One trace the rules audited: its time, and the alert when it is one. */
export interface AuditMatch {
  time: number | null;
  alert?: Omit<Alert, "object" | "integrity" | "region">;
  /** The trace's own `region` field, when it has one. */
  region?: string;
}

/** What reading and auditing one object produced. */
export interface AuditedObject {
  result: ReadTraceResult;
  matches: AuditMatch[];
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
  const read: ReadTraceOptions = {
    ...options,
    prefilter: rules.events,
    onTrace: (raw) => {
      const outcome = rules.audit(raw);
      if (!outcome.matched) return;
      const match: AuditMatch = { time: outcome.trace.time ?? null };
      if (outcome.alert) match.alert = outcome.alert;
      if (typeof raw.region === "string") match.region = raw.region;
      matches.push(match);
    },
  };
  const result = Buffer.isBuffer(input)
    ? await readTraceBuffer(input, read)
    : await readTraceFile(input, read);
  return { result, matches };
}
