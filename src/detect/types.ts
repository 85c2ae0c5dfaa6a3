import type { IpVerdict } from "./AllowList.js";

/** A file's integrity verdict (DESIGN "JSON report"). */
export type FileIntegrity = "valid" | "modified" | "unlisted" | "pending" | "unverified" | "missing";

/** Why a trace became an alert. */
export type AlertReason = Exclude<IpVerdict, "allowed">;

/** One audited trace from outside the allowlist. Field names are the JSON report's. */
export interface Alert {
  traceId: string;
  traceName: string;
  user: string;
  userId: string;
  domain: string;
  sourceIp: string;
  /** ISO-8601 UTC; empty when the trace carries no usable time. */
  time: string;
  region: string;
  /** Object key relative to the bucket root. */
  object: string;
  integrity: FileIntegrity;
  reason: AlertReason;
  /** Set when the file failed after this alert was read: the alert stands, the file did not finish. */
  fileError?: string;
  /** Already sent by an earlier run (state store): reported, not sent again. */
  suppressed?: boolean;
  /** Found by an earlier run whose digest could not be sent; sent with this run's. */
  pending?: boolean;
}
