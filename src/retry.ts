/** How to retry a transient failure. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the second attempt; doubles each time, with full jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

/** Full-jitter exponential backoff: a random delay up to base * 2^(attempt-1), capped. */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn` until it succeeds, `isRetryable` says no, or the attempts are spent; the last error is thrown.
 * `retryAfterMs` lets a server's Retry-After win over the computed delay.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  fn: (attempt: number) => Promise<T>,
  isRetryable: (err: unknown) => boolean,
  retryAfterMs: (err: unknown) => number | undefined = () => undefined,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= policy.attempts || !isRetryable(err)) throw err;
      const hinted = retryAfterMs(err);
      await sleep(hinted !== undefined ? Math.min(hinted, policy.maxDelayMs) : backoffDelay(policy, attempt));
    }
  }
}
