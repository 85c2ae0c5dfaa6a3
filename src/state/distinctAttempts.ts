import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { attemptKey } from "../detect/WindowedRules.js";

/**
 * A ledger's answer to "the attempts in a time range": each attempt once (one kept again by a later run that read
 * its object again is the same attempt, by {@link attemptKey}) and in time order, whatever layout held them.
 */
export function distinctAttempts(attempts: Iterable<LoginAttempt>): LoginAttempt[] {
  const byKey = new Map<string, LoginAttempt>();
  for (const a of attempts) byKey.set(attemptKey(a), a);
  return [...byKey]
    .sort(([ka, a], [kb, b]) => a.time - b.time || (ka < kb ? -1 : ka > kb ? 1 : 0))
    .map(([, a]) => a);
}
