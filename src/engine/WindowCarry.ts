import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert, FileIntegrity } from "../detect/types.js";
import { WindowedRules, type WindowedRulesOptions, type WindowedSettings } from "../detect/WindowedRules.js";
import type { Unit } from "./units.js";
import { isStoredAttempts, keptExactly, type StoredAttempts } from "./StoredAttempts.js";

/** The ledger operations the windows need (LedgerPolicy's: failures are reported there and read as "nothing"). */
export interface AttemptStore {
  attempts(scope: string, from: number, to: number): Promise<LoginAttempt[]>;
  keepAttempts(scope: string, attempts: readonly LoginAttempt[]): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** Verdicts kept before forgetVerdicts looks at them at all. */
const FORGET_FLOOR = 10_000;

/** A CTS unit's UTC day (`…/yyyy-mm-dd`) as `[start, end)`, or undefined for another folder. */
function dayRange(unit: Unit): [number, number] | undefined {
  const m = /(\d{4}-\d{2}-\d{2})$/.exec(unit.id);
  const start = m ? Date.parse(`${m[1]}T00:00:00Z`) : NaN;
  return Number.isFinite(start) ? [start, start + DAY_MS] : undefined;
}

interface SeriesWindows {
  rules: WindowedRules;
  /** Whether the ledger's attempts before the series' first unit were read (once per series and run). */
  primed: boolean;
}

/**
 * The windowed rules carried from unit to unit (like {@link ChainCarry} carries chains): one
 * {@link WindowedRules} per series (region), fed each unit's login attempts as the unit settles. With a ledger,
 * the first unit of a series first reads the attempts of the two windows before its day (context: patterns they
 * complete were an earlier run's), every unit reads the attempts earlier runs kept for its own day (objects done
 * by an earlier run are not read again, their attempts come from there), and its own attempts are kept for later
 * runs. A series other than the unit's is finished: a sorted listing never returns to it.
 *
 * **Integrity.** A windowed alert takes the integrity of the file that holds its completing trace, as a per-trace
 * alert does: the file's settled verdict in this run ({@link WindowCarry.verdict}, applied by `finishAll`). A
 * completing trace read from the ledger (kept by another run or invocation, whose file this run did not judge)
 * stays `unverified`: this run verified nothing of it, and `valid` is never claimed without a verified digest.
 * Verdicts are kept only for the files that what the windows hold came from, so memory stays bounded by the
 * windows, not by the run.
 */
export class WindowCarry {
  private readonly series = new Map<string, SeriesWindows>();
  private readonly done: Alert[] = [];
  /** Settled verdicts of files that attempts held (or alerts found) came from. */
  private readonly verdicts = new Map<string, FileIntegrity>();
  private dropped = 0;
  private late = 0;
  /** Verdicts kept by the last pass of forgetVerdicts. */
  private inUseAtLastPass = 0;

  constructor(
    private readonly settings: WindowedSettings,
    private readonly store: AttemptStore | undefined,
    private readonly options: WindowedRulesOptions & {
      /**
       * A partial listing (the function: one object an invocation): read the ledger around the unit's own
       * attempts, not its whole day (a day is hundreds of markers; an invocation's file spans minutes).
       */
      narrow?: boolean;
    } = {},
  ) {}

  /**
   * Feeds one unit's attempts (any order): `given` are those of the unit's own files, `fresh` those of them read
   * in this run (kept in the ledger for later runs; the others came from it). `fresh` defaults to `given`. False
   * (and nothing of the unit's own given) when a replayed unit's attempts could not be had.
   */
  async settle(
    unit: Unit,
    /** Or, for a replayed unit, its record's attempts unparsed (see {@link StoredAttempts}). */
    given: readonly LoginAttempt[] | StoredAttempts,
    fresh: readonly LoginAttempt[] = isStoredAttempts(given) ? [] : given,
  ): Promise<boolean> {
    for (const name of [...this.series.keys()]) if (name !== unit.series) this.finish(name);
    let s = this.series.get(unit.series);
    if (!s) {
      s = { rules: new WindowedRules(this.settings, this.options), primed: false };
      this.series.set(unit.series, s);
    }
    if (!s.rules.enabled) return true;
    let own: [number, number] | undefined;
    if (isStoredAttempts(given)) own = given.n > 0 ? [given.lo, given.hi + 1] : undefined;
    else {
      const times = given.map((a) => a.time).filter(Number.isFinite);
      own = times.length > 0 ? [Math.min(...times), Math.max(...times) + 1] : undefined;
    }
    // The period this unit stands for. Attempts kept before it are context: a pattern at a time depends only on
    // attempts up to that time, so none this unit adds can change what was decided before it. Attempts kept
    // inside it are the unit's own (objects reused from the ledger, late files of an earlier run), and so are,
    // narrowly, those within two windows after its last attempt: the patterns its attempts can complete.
    const range =
      this.options.narrow && own ? ([own[0], own[1] + s.rules.lookbackMs] as const) : (dayRange(unit) ?? own);
    let kept: LoginAttempt[] = [];
    if (this.store && range) {
      if (!s.primed) {
        const back = s.rules.lookbackMs + s.rules.slackMs;
        s.rules.add(await this.store.attempts(unit.series, range[0] - back, range[0]), { context: true });
      }
      kept = await this.store.attempts(unit.series, range[0], range[1]);
      s.rules.add(kept);
    }
    s.primed = true;
    if (!isStoredAttempts(given)) s.rules.add(given);
    else if (given.n > 0) {
      const copy = (await this.keptCopy(unit, s.rules, given, kept, range)) ?? (await given.load());
      // Nothing was added of the unit's own attempts: settling it again with them is settling it once.
      if (!copy) return false;
      s.rules.add(copy);
    }
    if (this.store) await this.store.keepAttempts(unit.series, fresh);
    s.rules.advance();
    this.forgetVerdicts();
    return true;
  }

  /**
   * A replayed unit's attempts as the ledger kept them, when it holds exactly the record's (count and signature)
   * in their time range: then the day's read (`kept`, added already) has those of the unit's day, and what this
   * returns (the reads of their times outside the day) the others; the record's copy stays unparsed. Undefined
   * (parse the record) when they differ (some expired, a write failed, other objects' attempts share the range),
   * with a narrow read (the function's), or when any would be late (adding a late attempt twice counts it twice:
   * only the record's copy gives that count).
   */
  private async keptCopy(
    unit: Unit,
    rules: WindowedRules,
    given: StoredAttempts,
    kept: readonly LoginAttempt[],
    range: readonly [number, number] | undefined,
  ): Promise<LoginAttempt[] | undefined> {
    if (!this.store || !range || this.options.narrow || given.lo < rules.foldedUntil) return undefined;
    const before = given.lo < range[0] ? await this.store.attempts(unit.series, given.lo, range[0]) : [];
    const after = given.hi >= range[1] ? await this.store.attempts(unit.series, range[1], given.hi + 1) : [];
    return keptExactly(given, [before, kept, after]) ? [...before, ...after] : undefined;
  }

  /**
   * A file's settled verdict (called as records are written, for files with login attempts): the integrity of
   * the windowed alerts whose completing trace it holds. A later call for the same file (a held file judged
   * again) replaces it.
   */
  verdict(object: string, integrity: FileIntegrity): void {
    this.verdicts.set(object, integrity);
  }

  /**
   * Drops verdicts of files nothing held refers to any more (their attempts left every window). Only once they
   * outnumber twice what was in use at the last pass (and a floor): a pass walks everything the windows hold, and a
   * unit a pass was a tenth of a rerun's windows. Memory stays bounded by the windows all the same.
   */
  private forgetVerdicts(): void {
    if (this.verdicts.size <= Math.max(FORGET_FLOOR, 2 * this.inUseAtLastPass)) return;
    const inUse = new Set<string>(this.done.map((a) => a.object));
    for (const s of this.series.values()) s.rules.objectsInUse(inUse);
    for (const object of this.verdicts.keys()) if (!inUse.has(object)) this.verdicts.delete(object);
    this.inUseAtLastPass = this.verdicts.size;
  }

  /**
   * Every series finished: all windowed alerts of the run, each with the settled verdict of its completing
   * trace's file. Call after the run's last records were written (their verdicts are final then).
   */
  finishAll(): Alert[] {
    for (const name of [...this.series.keys()]) this.finish(name);
    for (const a of this.done) a.integrity = this.verdicts.get(a.object) ?? "unverified";
    return [...this.done];
  }

  /** Attempts dropped by the per-group cap, and attempts that came later than the slack allows. */
  get counters(): { dropped: number; late: number } {
    let { dropped, late } = this;
    for (const s of this.series.values()) {
      dropped += s.rules.dropped;
      late += s.rules.late;
    }
    return { dropped, late };
  }

  private finish(name: string): void {
    const s = this.series.get(name);
    this.series.delete(name);
    if (!s) return;
    this.done.push(...s.rules.finish());
    this.dropped += s.rules.dropped;
    this.late += s.rules.late;
  }
}
