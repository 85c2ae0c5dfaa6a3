import { describeError, LedgerBusyError, LedgerUnreadableError } from "../errors.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { LedgerHolder, Ledger, ObjectOutcome } from "../state/types.js";
import { fingerprint, restoreOutcome, storedOutcome } from "./storedOutcome.js";
import type { Slot } from "./scanObject.js";

/** Writes {@link LedgerPolicy.later} lets wait at once before the scan waits for them. */
const MAX_QUEUED = 4;

/**
 * How a run uses its ledger (DESIGN "State and idempotency"). A ledger that cannot be read does not stop the run:
 * it scans and reports without it, sends nothing (it could repeat old alerts) and exits 1 with the fix. Writes
 * that fail mid-run only weaken dedupe and resume: the report says so and the exit code is 1. Another run holding
 * the ledger is the one failure that stops the run (exit 2): two writers could send an alert twice.
 */
export class LedgerPolicy {
  /** The ledger exists but could not be read: nothing is reused, written or sent. */
  unreadable = false;
  /** No ledger could be opened or made: the run goes on without one. */
  private absent = false;
  private opened = false;

  constructor(
    readonly ledger: Ledger | undefined,
    /** Outcomes are reused only under the same rules. */
    private readonly rulesId: string,
    /** False for a dry run: the ledger is read, never written. */
    private readonly write: boolean,
    private readonly failed: (message: string) => void,
    private readonly clock: () => Date,
  ) {}

  /** Writes issued by {@link later} and not yet durable, oldest first; none rejects (a failure is reported). */
  private readonly inFlight: Array<Promise<void>> = [];
  /** The last write in flight of each series of {@link later}. */
  private readonly series = new Map<string, Promise<void>>();

  /** Whether this run writes to its ledger (usable, and not a dry run). */
  get writable(): boolean {
    return this.usable && this.write;
  }

  /** Whether alerts can be deduped and recorded. */
  get usable(): boolean {
    return this.ledger !== undefined && !this.unreadable && !this.absent;
  }

  private report(what: string, err: unknown): void {
    this.failed(`state store ${this.ledger?.location}: ${what} failed: ${describeError(err)}`);
  }

  /** Opens the ledger; throws only LedgerBusyError. */
  async open(holder: LedgerHolder, lockWaitMs?: number): Promise<void> {
    if (!this.ledger) return;
    try {
      await this.ledger.open({
        holder,
        readOnly: !this.write,
        ...(lockWaitMs !== undefined ? { lockWaitMs } : {}),
      });
      this.opened = true;
    } catch (err) {
      if (err instanceof LedgerBusyError) throw err;
      if (err instanceof LedgerUnreadableError) {
        // It exists and may say what went out before: without it, sending could repeat old alerts.
        this.unreadable = true;
        this.failed(`${describeError(err)}; nothing was sent`);
        return;
      }
      // No ledger could be made (a path that cannot exist, no space): nothing was ever recorded there, so
      // sending is safe; resume and dedupe are lost for this run, which the report and exit code say.
      this.absent = true;
      this.report("opening", err);
    }
  }

  /** Stored outcomes of a unit's objects done by an earlier run under the same rules. */
  async lookup(unit: string, slots: readonly Slot[]): Promise<Map<string, ObjectOutcome>> {
    if (!this.usable || slots.length === 0) return new Map();
    try {
      const found = await this.ledger!.getObjects(
        unit,
        slots.map((s) => ({ key: s.object.key, fingerprint: fingerprint(s) })),
      );
      for (const [key, outcome] of found) {
        if (outcome.rules !== this.rulesId) found.delete(key);
        else restoreOutcome(key, outcome);
      }
      return found;
    } catch (err) {
      this.report("reading", err);
      return new Map();
    }
  }

  /** Records a unit's completed objects in one transaction (failed ones are read again by the next run). */
  async record(unit: string, slots: readonly Slot[]): Promise<void> {
    if (!this.writable) return;
    const at = this.clock().toISOString();
    const outcomes = slots
      .filter((s) => s.record.status !== "failed" && !s.record.reason?.startsWith("not started"))
      .map((s) => [s.object.key, storedOutcome(s, this.rulesId, at)] as const);
    if (outcomes.length === 0) return;
    await this.later("recording completed objects", (l) => l.putObjects(unit, outcomes));
  }

  /**
   * Runs a ledger operation of delivery; a failure is reported and gives `fallback`. Writes are skipped in a dry
   * run; reads are not (a dry run shows what would be suppressed).
   */
  async attempt<T>(
    what: string,
    kind: "read" | "write",
    fallback: T,
    op: (ledger: Ledger) => Promise<T>,
  ): Promise<T> {
    if (!this.usable || (kind === "write" && !this.write)) return fallback;
    try {
      return await op(this.ledger!);
    } catch (err) {
      this.report(what, err);
      return fallback;
    }
  }

  /**
   * Issues a write of what the run has settled (a unit's outcomes, attempts, replay record, baselines) and returns
   * before it is durable: a unit's commits (an fsync each) then overlap the next unit's work instead of stalling it
   * (with a ledger, a run spent about a tenth of its time waiting on them). Writes are issued at once, not one after
   * another's commit: the local ledger queues them on LMDB's one writer, and those issued while it commits share its
   * next commit, one fsync for several (a million-object first run made four synced commits a unit, and waited on
   * them); within one commit lmdb-js may apply them in another order, which none of them depends on (they write
   * different entries, and `series` orders those that rewrite the same ones). Nothing a later unit reads depends
   * on these writes (their data is in the run's memory or keyed by other units), and delivery runs after
   * {@link drain}. A crash loses at most the writes in flight: those objects are read again by the next run. At
   * most {@link MAX_QUEUED} are in flight, so a slow disk slows the scan rather than growing the queue.
   */
  async later(
    what: string,
    op: (ledger: Ledger) => Promise<void>,
    /**
     * Writes of the same `series` are issued each after the one before is durable: the OBS ledger's requests are
     * independent, and a later write of the same marker (a user's baseline) must not land before an earlier one.
     */
    series?: string,
  ): Promise<void> {
    if (!this.writable) return;
    const write = () => this.attempt(what, "write", undefined, op);
    const before = series === undefined ? undefined : this.series.get(series);
    const done = (before ? before.then(write) : write()).then(() => {
      this.inFlight.splice(this.inFlight.indexOf(done), 1);
      if (series !== undefined && this.series.get(series) === done) this.series.delete(series);
    });
    if (series !== undefined) this.series.set(series, done);
    this.inFlight.push(done);
    // Waits for the oldest: the first issued, the first a slow disk holds up.
    while (this.inFlight.length > MAX_QUEUED) await this.inFlight[0];
  }

  /** Waits for every write in flight (before delivery reads what was sent, and before the ledger closes). */
  async drain(): Promise<void> {
    while (this.inFlight.length > 0) await Promise.all([...this.inFlight]);
  }

  /** Login attempts of `scope` kept by earlier runs in `[from, to)`; none when the ledger cannot be read. */
  attempts(scope: string, from: number, to: number): Promise<LoginAttempt[]> {
    return this.attempt(`reading login attempts of ${scope}`, "read", [], (l) => l.attempts(scope, from, to));
  }

  /** Keeps a unit's login attempts for later runs' windows (not in a dry run). */
  async keepAttempts(scope: string, attempts: readonly LoginAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    await this.later("keeping login attempts", (l) => l.putAttempts(scope, attempts));
  }

  async close(): Promise<void> {
    await this.drain();
    if (!this.ledger || !this.opened) return;
    try {
      await this.ledger.close();
    } catch (err) {
      this.report("saving", err);
    }
  }
}
