import type { IpVerdict } from "./AllowList.js";

/** A file's integrity verdict (DESIGN "JSON report"). */
export type FileIntegrity = "valid" | "modified" | "unlisted" | "pending" | "unverified" | "missing";

/** Stable rule ids (DESIGN "Detection"): users' scripts and the ledger key on them. Never rename. */
export type RuleId =
  | "ip-not-allowed"
  | "owner-login"
  | "login-without-mfa"
  | "brute-force"
  | "password-spray"
  | "failures-then-success"
  | "audit-tamper"
  | "new-country"
  | "new-asn";

/** Alert severities, lowest first. */
export type Severity = "low" | "medium" | "high" | "critical";

/** What a windowed rule saw: the group's traces in the window (bounded lists, counts exact). */
export interface AlertEvidence {
  count: number;
  /** ISO-8601 of the first and last trace in the window. */
  first: string;
  last: string;
  traceIds: string[];
  users: string[];
  sourceIps: string[];
  /** The group the window is of: `user:<userKey>` or `ip:<address>` (part of the dedupe key). */
  group?: string;
  /** The window's stable id (part of the dedupe key): ISO-8601 of the trace that completed the pattern. */
  windowId?: string;
}

/**
 * Why a trace became an alert: the address verdict of `ip-not-allowed`, or the per-trace rules' own reasons
 * (`audit-tamper` says what the operation weakened).
 */
export type AlertReason =
  | Exclude<IpVerdict, "allowed">
  | "owner-login"
  | "login-protection-off"
  | "tracker-deleted"
  | "tracker-disabled"
  | "verification-off"
  | "transfer-off"
  | "tracker-update-unrecorded"
  | "notification-deleted"
  | "notification-disabled"
  | "notification-update-unrecorded"
  | "mfa-unbound"
  | "login-pattern"
  | "new-location";

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
  /** The rule that raised it (DESIGN "Detection"). Set by the rules engine (issue 14). */
  rule?: RuleId;
  severity?: Severity;
  /** Triage context from the trace: `ConsoleAction`/`ApiCall`, `domain owner`/`iam user`/…, login protection. */
  traceType?: string;
  userType?: string;
  mfa?: "on" | "off" | "";
  userAgent?: string;
  /** Offline enrichment of `sourceIp` (DESIGN "Enrichment"): ISO 3166 alpha-2, ASN and its organisation. */
  country?: string;
  asn?: number;
  asOrg?: string;
  /**
   * Why country or network are missing, for a person (`private range`, `documentation range`, `not in the country
   * data`): set instead of a guess. Absent when both are known.
   */
  geoNote?: string;
  /** Windowed rules: the traces behind the alert. */
  evidence?: AlertEvidence;
  /** Set when the file failed after this alert was read: the alert stands, the file did not finish. */
  fileError?: string;
  /** Already sent by an earlier run (state store): reported, not sent again. */
  suppressed?: boolean;
  /** Found by an earlier run whose digest could not be sent; sent with this run's. */
  pending?: boolean;
}
