/**
 * One audited login or failed login, as the windowed rules see it (issue 14). rules-A produces one per audited
 * login trace; the windowed rules (`WindowedRules`) consume them. Compact on purpose: it is what windows keep in
 * memory and what the ledger stores between runs, never the raw trace.
 */
export interface LoginAttempt {
  /** Epoch ms (traces without a time never enter a window). */
  time: number;
  traceId: string;
  traceName: string;
  outcome: "success" | "failure";
  /** Display name. */
  user: string;
  /** Group key: `${domain}/${userId || user}`, lower-cased where names are case-insensitive. */
  userKey: string;
  domain: string;
  sourceIp: string;
  /** Object key, for the alert. */
  object: string;
  region: string;
}
