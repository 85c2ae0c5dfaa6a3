import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import { WindowedRules, type WindowedRulesOptions, type WindowedSettings } from "../detect/WindowedRules.js";
import type { Unit } from "./units.js";

/** The ledger operations the windows need (LedgerPolicy's: failures are reported there and read as "nothing"). */
export interface AttemptStore {
  attempts(scope: string, from: number, to: number): Promise<LoginAttempt[]>;
  keepAttempts(scope: string, attempts: readonly LoginAttempt[]): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

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
 */
export class WindowCarry {
  private readonly series = new Map<string, SeriesWindows>();
  private readonly done: Alert[] = [];
  private dropped = 0;
  private late = 0;

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
   * Feeds one unit's attempts (any order): `attempts` are those of the unit's own files, `fresh` those of them read
   * in this run (kept in the ledger for later runs; the others came from it). `fresh` defaults to `attempts`.
   */
  async settle(
    unit: Unit,
    attempts: readonly LoginAttempt[],
    fresh: readonly LoginAttempt[] = attempts,
  ): Promise<void> {
    for (const name of [...this.series.keys()]) if (name !== unit.series) this.finish(name);
    let s = this.series.get(unit.series);
    if (!s) {
      s = { rules: new WindowedRules(this.settings, this.options), primed: false };
      this.series.set(unit.series, s);
    }
    if (!s.rules.enabled) return;
    const times = attempts.map((a) => a.time).filter(Number.isFinite);
    const own: [number, number] | undefined =
      times.length > 0 ? [Math.min(...times), Math.max(...times) + 1] : undefined;
    // The period this unit stands for. Attempts kept before it are context: a pattern at a time depends only on
    // attempts up to that time, so none this unit adds can change what was decided before it. Attempts kept
    // inside it are the unit's own (objects reused from the ledger, late files of an earlier run), and so are,
    // narrowly, those within two windows after its last attempt: the patterns its attempts can complete.
    const range =
      this.options.narrow && own ? ([own[0], own[1] + s.rules.lookbackMs] as const) : (dayRange(unit) ?? own);
    if (this.store && range) {
      if (!s.primed) {
        const back = s.rules.lookbackMs + s.rules.slackMs;
        s.rules.add(await this.store.attempts(unit.series, range[0] - back, range[0]), { context: true });
      }
      s.rules.add(await this.store.attempts(unit.series, range[0], range[1]));
    }
    s.primed = true;
    s.rules.add(attempts);
    if (this.store) await this.store.keepAttempts(unit.series, fresh);
    s.rules.advance();
  }

  /** Every series finished: all windowed alerts of the run. */
  finishAll(): Alert[] {
    for (const name of [...this.series.keys()]) this.finish(name);
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
