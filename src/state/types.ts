import type { Alert } from "../detect/types.js";
import type { FileRecord } from "../report/types.js";

/** What a completed object produced, kept so a resumed or repeated run reports it without reading it again. */
export interface ObjectOutcome {
  /** ETag (OBS) or MD5 (local) of the object when it was read: a changed object is read again. */
  fingerprint: string;
  /** The rules it was audited under (`AuditRules.id`): other rules read it again. */
  rules: string;
  record: FileRecord;
  /** Every alert, whatever the window; the run applies its own. */
  alerts: Alert[];
  matchedTimes: Array<number | null>;
  hashes?: Record<string, string>;
  /** When it completed (ISO-8601), for expiry. */
  at: string;
}

/**
 * The ledger that makes runs idempotent: completed objects (key + fingerprint, with their outcome), alerted
 * trace keys with the SMN message id that carried them, and alerts found but not yet sent.
 */
export interface StateStore {
  /** Where it is, for the report (`./state.json`, `obs://bucket/prefix/`). */
  readonly location: string;
  /** Loads what a run needs up front. */
  open(): Promise<void>;
  /** The outcome of a completed object, when its fingerprint still matches. */
  getObject(key: string, fingerprint: string): Promise<ObjectOutcome | undefined>;
  /** Records a completed object. May buffer until `flush`. */
  putObject(key: string, outcome: ObjectOutcome): Promise<void>;
  /** Which of these alert keys were already sent. */
  alerted(keys: readonly string[]): Promise<Set<string>>;
  /** Records alert keys as sent, with the message that carried them. */
  markAlerted(keys: readonly string[], messageId: string): Promise<void>;
  /** Alerts found by earlier runs whose digest was never sent. */
  pending(): Promise<Alert[]>;
  /** Replaces the pending alerts. */
  setPending(alerts: readonly Alert[]): Promise<void>;
  /** Makes everything recorded so far durable. */
  flush(): Promise<void>;
}
