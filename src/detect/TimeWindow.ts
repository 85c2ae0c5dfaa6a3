/** The `[since, until)` window of `--since` / `--until`, applied to trace times. */
export class TimeWindow {
  constructor(
    readonly since: Date | undefined,
    readonly until: Date | undefined,
  ) {}

  /** Whether a trace time (epoch ms) is inside. A trace without a time is kept: it is never silently dropped. */
  contains(timeMs: number | undefined): boolean {
    if (timeMs === undefined) return true;
    if (this.since && timeMs < this.since.getTime()) return false;
    if (this.until && timeMs >= this.until.getTime()) return false;
    return true;
  }

  /**
   * How many of `times` are inside (null: a trace without a time, kept). Counted, not filtered: a replay or a scan
   * asks it of every file, and only the count is kept.
   */
  count(times: ReadonlyArray<number | null>): number {
    if (!this.since && !this.until) return times.length;
    let n = 0;
    for (const t of times) if (this.contains(t ?? undefined)) n++;
    return n;
  }
}
