import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import { TimeWindow } from "../detect/TimeWindow.js";
import type { RunTally } from "../engine/RunTally.js";
import type { EngineOptions } from "../engine/types.js";
import { WindowCarry } from "../engine/WindowCarry.js";
import type { ShardResult } from "./Manifest.js";

/**
 * The reducer's windowed rules (brute-force, password-spray, failures-then-success). A window can straddle a cut
 * between shards, and the attempts before a cut are the previous shard's; so workers only record each unit's
 * attempts, and this replays the engine's calls over the shards' results in listing order: one
 * {@link WindowCarry} per source, fed unit by unit, each file's final verdict from its record, and the found
 * alerts tallied after the source's per-trace alerts, as `run()` tallies them. Memory: the windows (minutes of
 * attempts per user) and one shard's files with attempts, never the run.
 *
 * Like the workers' engine before it, it keeps and reads no attempts in the ledger: a fanned-out run's windows
 * see the run's own attempts.
 */
export class ShardWindows {
  private carry: WindowCarry | undefined;
  private current: number | undefined;
  private readonly window: TimeWindow;

  constructor(
    private readonly options: EngineOptions,
    private readonly tally: RunTally,
    private readonly warn: ((message: string) => void) | undefined,
    private readonly sources: readonly string[],
  ) {
    this.window = new TimeWindow(options.since, options.until);
  }

  /** The next result is of this source: the previous source's windows finish first. */
  source(index: number): void {
    if (index === this.current) return;
    this.finish();
    this.current = index;
  }

  /** A shard's attempts, unit by unit, then the verdicts of its files that have attempts. */
  async add(result: ShardResult): Promise<void> {
    if (!result.attempts || this.options.command !== "scan") return;
    this.carry ??= new WindowCarry((this.options.rules ?? DEFAULT_RULES).rules, undefined);
    const withAttempts = new Set<string>();
    for (const u of result.attempts) {
      await this.carry.settle({ id: u.unit, series: u.series, objects: [] }, u.attempts);
      for (const a of u.attempts) withAttempts.add(a.object);
    }
    // Every own file's record carries its final verdict (a shard cut mid-series judges its held files itself).
    for (const rec of result.records)
      if (rec.t === "file" && withAttempts.has(rec.r.object))
        this.carry.verdict(rec.r.object, rec.r.integrity);
  }

  /** The current source's windowed alerts, within the run's window, into the tally. */
  finish(): void {
    const carry = this.carry;
    this.carry = undefined;
    if (!carry) return;
    this.tally.alerts(carry.finishAll().filter((a) => this.window.contains(Date.parse(a.time))));
    const { dropped, late } = carry.counters;
    if (dropped + late > 0)
      this.warn?.(
        `windowed rules of ${this.sources[this.current ?? 0] ?? "a source"}: ${dropped} login attempt(s) beyond ` +
          `the per-group cap and ${late} that arrived later than the slack were not counted`,
      );
  }
}
