import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import type { Alert } from "../detect/types.js";
import { DELIVERY_DELAY_MS, DIGEST_PERIOD_MS } from "../integrity/timing.js";
import type { ObjectSource } from "../sources/types.js";
import type { ChainCarry, Settled } from "./ChainCarry.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { planObject } from "./plan.js";
import type { Slot } from "./scanObject.js";
import type { EngineOptions } from "./types.js";
import type { Unit } from "./units.js";
import { encodeUnit, FORMAT, RECORDS_LINE, type UnitBody } from "./unitBody.js";
import { expandRecord } from "./keyRefs.js";
import { lazyCarry, restoreFiles, windowedBy, type Windowed } from "./replayedSlots.js";
import { outcomeAttempts, type StoredAttempts } from "./StoredAttempts.js";
import { chainedFingerprint, optionsToken, uploadRange, windowToken } from "./unitFingerprint.js";

/**
 * A unit's outcome depends on the carry of the unit before it, and that carry on the unit before that (the gaps it
 * wrote were judged with its predecessor's digests): the window's effect and a read that failed reach this far.
 */
const DEPTH = 3;

const OPEN = 0x7b; // {
const CLOSE = 0x7d; // }

/** Per series in this run: the chained fingerprint so far, and the window tokens and cleanness of its last units. */
interface SeriesState {
  fingerprint: string;
  tokens: string[];
  clean: boolean[];
}

/** What replaying a unit needs from the unit's scan context. */
export interface ReplayContext {
  /** Undefined with verification off. */
  carry: ChainCarry | undefined;
  windows?: {
    /** False: the unit's attempts could not be had (the unit is scanned). */
    settle(unit: Unit, attempts: readonly LoginAttempt[] | StoredAttempts): Promise<boolean>;
  };
  listed: (slot: Slot) => void;
  completed: (slot: Slot) => void;
  reused: () => void;
  /** A reason to start nothing more (a signal, time running out): the unit is scanned, its objects not started. */
  shouldStop?: () => string | undefined;
}

/**
 * Unit-level replay (issue 12: "a rerun with the ledger is at least 5x faster"). A unit listed exactly as when an
 * earlier run settled it, under the same rules and the options that change outcomes, is not looked up object by
 * object, read or verified again: its settled records (files, digests, gaps, missing files, alerts with their
 * verdicts), its login attempts and the chain carry it handed to its next unit are replayed from one ledger record.
 *
 * Why it is exact: a unit's records are a function of its listing, the options, and the carry of the two units
 * before it in its series (the chains of a unit are its digests and its predecessor's; the predecessor's gaps and
 * held files were judged with the unit before that). The fingerprint chains every listing of the series in this
 * run, and the window's effect (as a token) of the last {@link DEPTH} units; a unit is stored only when those units
 * were clean (no read failed, nothing left unstarted: those are read again) and none of its records is `pending`
 * (the one verdict that changes with the clock alone: once a digest is overdue it stays overdue). The run's window
 * on trace times is applied again on replay, to the stored window-free alerts and trace times.
 */
export class UnitReplay {
  private readonly series = new Map<string, SeriesState>();
  /** Units cut in parts share an id: the n-th part of one is stored as `<id>#<n>`. */
  private readonly parts = new Map<string, number>();
  private readonly optionsToken: string;
  /** Whether a windowed rule is on: else a unit's attempts are neither kept nor read. */
  private readonly windowedRules: boolean;
  private current:
    { unit: Unit; id: string; fingerprint: string; cleanBefore: boolean; newestUpload: number } | undefined;

  constructor(
    private readonly ledger: LedgerPolicy,
    rulesId: string,
    private readonly options: EngineOptions,
    source: ObjectSource,
    private readonly window: TimeWindow,
    /** The run's now, as the chains judge with it: a verdict made before a digest was due is not stored. */
    private readonly now: Date,
    private readonly clock: () => Date,
    /**
     * The report writer takes records as text (ReportWriter.fileText): else a replayed unit's records are parsed
     * as it is replayed (a record that does not parse: the unit is scanned), not when written.
     */
    private readonly recordsAsText = false,
  ) {
    const { rules } = options.rules ?? DEFAULT_RULES;
    this.windowedRules =
      options.command === "scan" &&
      (rules["brute-force"].enabled ||
        rules["password-spray"].enabled ||
        rules["failures-then-success"].enabled);
    this.optionsToken = optionsToken(options, rulesId, source);
    this.windowedFn = windowedBy(window);
  }

  /**
   * Fingerprints the unit (every unit of a run passes here first, in listing order) and replays it when the ledger
   * holds it under the same fingerprint; undefined: scan it (then {@link store}).
   */
  async replay(unit: Unit, ctx: ReplayContext): Promise<Settled[] | undefined> {
    const part = this.parts.get(unit.id) ?? 0;
    this.parts.set(unit.id, part + 1);
    const id = part === 0 ? unit.id : `${unit.id}#${part}`;
    let st = this.series.get(unit.series);
    if (!st) {
      st = { fingerprint: "", tokens: [], clean: [] };
      this.series.set(unit.series, st);
    }
    const [first, newestUpload] = uploadRange(unit);
    st.tokens.push(windowToken(this.options, first, newestUpload));
    if (st.tokens.length > DEPTH) st.tokens.shift();
    const fingerprint = chainedFingerprint(this.optionsToken, st.fingerprint, st.tokens, unit);
    st.fingerprint = fingerprint;
    this.current = {
      unit,
      id,
      fingerprint,
      cleanBefore: st.clean.slice(-(DEPTH - 1)).every(Boolean),
      newestUpload,
    };

    // After a stop nothing more starts, replays included: the scan reports the unit's objects as not started.
    if (ctx.shouldStop?.()) return undefined;
    const stored = await this.ledger.attempt(`reading unit ${id}`, "read", undefined, (l) => l.getUnit(id));
    if (stored?.fingerprint !== fingerprint) return undefined;
    const lines = stored.body.split("\n");
    let head: UnitBody["head"];
    let settled: Settled;
    try {
      head = JSON.parse(lines[0] ?? "") as UnitBody["head"];
      if (head.v !== FORMAT || (this.windowedRules && !head.attempts)) return undefined;
      const output = JSON.parse(lines[1] ?? "") as UnitBody["output"];
      const f = output.files;
      const n = f.refs.length;
      if (lines.length !== RECORDS_LINE + n || f.integrity.length !== n || f.times.length !== n)
        return undefined;
      // A record written out unparsed must at least be one object a line (a damaged record: the unit is scanned).
      for (let i = RECORDS_LINE; i < lines.length; i++) {
        const line = lines[i]!;
        if (line.charCodeAt(0) !== OPEN || line.charCodeAt(line.length - 1) !== CLOSE) return undefined;
      }
      settled = {
        digests: output.digests.map((d) => expandRecord(d, unit)),
        gaps: output.gaps,
        ...restoreFiles(
          output.files,
          lines,
          RECORDS_LINE,
          unit,
          this.window,
          this.windowedFn,
          this.recordsAsText,
        ),
        missing: output.missing,
      };
    } catch {
      return undefined; // not what this version wrote: scanned and stored again
    }
    // As for objects reused from the ledger: the windows get the unit's attempts, and still read what earlier runs
    // kept for its day (attempts of objects not in this listing: the function's invocations, a planted context).
    // Not to be had (see outcomeAttempts): the unit is scanned (what the windows were given is given again).
    if (ctx.windows) {
      const attempts = this.windowedRules
        ? { ...head.attempts!, load: () => outcomeAttempts(this.ledger, this.options, unit) }
        : [];
      if (!(await ctx.windows.settle(unit, attempts))) return undefined;
    }
    // One slot for the progress counts of every object (they read its object and alerts, and keep nothing).
    const progressSlot = { object: undefined, allAlerts: [] as Alert[] } as unknown as { object: unknown };
    for (const item of unit.objects) {
      if (planObject(this.options, item.object, item.key).action === "skip") continue;
      progressSlot.object = item.object;
      ctx.listed(progressSlot as Slot);
      ctx.completed(progressSlot as Slot);
    }
    for (let i = 0; i < head.reused; i++) ctx.reused();
    st.clean.push(true);
    if (st.clean.length > DEPTH) st.clean.shift();
    if (!ctx.carry) return [settled];
    return ctx.carry.replay(
      unit,
      settled,
      lines[2] === "null" ? undefined : lazyCarry(lines[2]!, unit, this.windowedFn),
    );
  }

  /**
   * After a scan: keeps the unit's settled records (the last of `settled`: the others finished other series) and
   * its carry for later runs, when they are final (see the class comment). Not in a dry run.
   */
  async store(
    unit: Unit,
    slots: readonly Slot[],
    settled: readonly Settled[],
    carry: ChainCarry | undefined,
    reused: number,
  ): Promise<void> {
    const cur = this.current;
    const st = this.series.get(unit.series);
    if (!cur || cur.unit !== unit || !st) return;
    const clean = slots.every(
      (s) =>
        s.record.status !== "failed" && !s.object.explicit && !s.record.reason?.startsWith("not started"),
    );
    st.clean.push(clean);
    if (st.clean.length > DEPTH) st.clean.shift();
    const own = settled[settled.length - 1];
    // Verdicts are made with the run's now: one made before a digest of the unit was due (pending, or unverified
    // that would now be unlisted) changes with the clock alone. Files held from the unit before are older.
    const settledForGood = this.now.getTime() >= cur.newestUpload + DIGEST_PERIOD_MS + DELIVERY_DELAY_MS;
    if (!clean || !cur.cleanBefore || !own || !settledForGood || this.hasPending(own)) return;
    const kept = carry?.carried(unit.series);
    if (kept?.heldFiles.some((s) => s.record.status === "failed" || s.record.integrity === "pending")) return;
    const attempts = this.windowedRules ? slots.flatMap((s) => s.attempts) : [];
    // Encoded now (the records take their verdicts later on), but only when it will be written (not in a dry run).
    if (!this.ledger.writable) return;
    const stored = {
      fingerprint: cur.fingerprint,
      body: encodeUnit(unit, own, attempts, kept, reused, this.windowedRules),
      at: this.clock().toISOString(),
    };
    await this.ledger.later(`recording unit ${cur.id}`, (l) => l.putUnit(cur.id, stored));
  }

  /** Pending: its digest is not due yet; a later run would judge it again (the clock moved). */
  private hasPending(s: Settled): boolean {
    return (
      s.files.some((f) => f.record.integrity === "pending") ||
      s.missing.some((f) => f.integrity === "pending")
    );
  }

  private readonly windowedFn: Windowed;
}
