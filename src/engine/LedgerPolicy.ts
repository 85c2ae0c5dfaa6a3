import { describeError, LedgerBusyError, LedgerUnreadableError } from "../errors.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { LedgerHolder, Ledger, ObjectOutcome } from "../state/types.js";
import { fingerprint, restoreOutcome, storedOutcome } from "./storedOutcome.js";
import type { Slot } from "./scanObject.js";
import type { LocationBaseline } from "../detect/LocationBaseline.js";
import type { BaselineStore } from "../detect/NewLocationRules.js";

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

  /** Writes queued by {@link later}, in order; never rejects (a failure is reported). */
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

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
   * Queues a write of what the run has settled (a unit's outcomes, attempts, replay record) behind the writes
   * queued before it, and returns before it is durable: a unit's commit (an fsync each) then overlaps the next
   * unit's work instead of stalling it (with a ledger, a run spent about a tenth of its time waiting on them).
   * Nothing a later unit reads depends on these writes (their data is in the run's memory or keyed by other
   * units), and delivery runs after {@link drain}. A crash loses at most the queued writes: those objects are
   * read again by the next run. At most {@link MAX_QUEUED} wait, so a slow disk slows the scan rather than
   * growing the queue.
   */
  async later(what: string, op: (ledger: Ledger) => Promise<void>): Promise<void> {
    if (!this.writable) return;
    this.queued++;
    const done = this.tail.then(async () => {
      await this.attempt(what, "write", undefined, op);
      this.queued--;
    });
    this.tail = done;
    if (this.queued > MAX_QUEUED) await done;
  }

  /** Waits for every queued write (before delivery reads what was sent, and before the ledger closes). */
  drain(): Promise<void> {
    return this.tail;
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

  /**
   * The per-user location baselines (`new-country`/`new-asn`) through this policy: without a usable ledger, or
   * when a read fails (reported), a user has no baseline, so those rules stay silent rather than guess.
   *
   * What this run wrote is also kept for the run (one baseline a user: bounded by the users, not the objects), and
   * read from there: a write is then queued like a unit's others ({@link later}) instead of awaited, which stalled
   * every unit on a synced commit (a million-object first run: half a second idle), and the next unit still sees
   * it. A dry run writes nothing, and judges each unit against what its earlier units taught, as a real run does.
   */
  baselineStore(): BaselineStore {
    const written = new Map<string, LocationBaseline>();
    return {
      get: async (keys) => {
        const unknown = keys.filter((k) => !written.has(k));
        const read =
          unknown.length === 0
            ? new Map<string, LocationBaseline>()
            : await this.attempt(
                "reading location baselines",
                "read",
                new Map<string, LocationBaseline>(),
                async (l) => (l.getBaselines ? l.getBaselines(unknown) : new Map<string, LocationBaseline>()),
              );
        for (const k of keys) {
          const mine = written.get(k);
          if (mine) read.set(k, mine);
        }
        return read;
      },
      put: async (baselines) => {
        if (!this.usable) return;
        for (const b of baselines) written.set(b.userKey, b.baseline);
        await this.later("recording location baselines", async (l) => {
          await l.putBaselines?.(baselines);
        });
      },
    };
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
