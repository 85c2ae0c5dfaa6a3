/**
 * A weighted semaphore over bytes: callers acquire what they are about to hold in memory and wait while the
 * budget is spent. A request larger than the whole budget waits until nothing else is held, then proceeds
 * alone, so that no caller waits forever. Written by hand: p-limit counts tasks, not bytes, and the few lines
 * here do not warrant another dependency.
 */
export class ByteBudget {
  private held = 0;
  private readonly waiting: Array<{ bytes: number; grant: () => void }> = [];

  constructor(private readonly budget: number) {}

  /** Resolves once `bytes` fit in the budget (at once when they do). Waiters are served in order. */
  acquire(bytes: number): Promise<void> {
    if (this.tryAcquire(bytes)) return Promise.resolve();
    return new Promise((grant) => this.waiting.push({ bytes, grant }));
  }

  /**
   * Takes `bytes` now when they fit and nobody waits, without a promise (the common case: files of a few KB
   * well under the budget); false when the caller must `acquire` and wait.
   */
  tryAcquire(bytes: number): boolean {
    if (this.waiting.length > 0 || !this.fits(bytes)) return false;
    this.held += bytes;
    return true;
  }

  /** Gives back what an acquire took. */
  release(bytes: number): void {
    this.held -= bytes;
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.held += next.bytes;
      next.grant();
    }
  }

  /** Bytes held now. */
  get inUse(): number {
    return this.held;
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.budget;
  }
}
