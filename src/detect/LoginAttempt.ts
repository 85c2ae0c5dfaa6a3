/**
 * One audited login or failed login (DESIGN "Detection"), the event the windowed rules (brute-force,
 * password-spray, failures-then-success) consume. The per-trace rules produce one for every login success or
 * failure that has a time; a logout is no attempt.
 */
export interface LoginAttempt {
  /** Epoch ms (traces without a time never enter a window). */
  time: number;
  traceId: string;
  traceName: string;
  outcome: "success" | "failure";
  /** Display name. */
  user: string;
  /** Group key: `${domain}/${user || userId}`, lower-cased (IAM names are case-insensitive; failed logins carry no user id). */
  userKey: string;
  domain: string;
  sourceIp: string;
  /** Object key, for the alert. */
  object: string;
  region: string;
}
