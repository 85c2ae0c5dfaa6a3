import { TimeWindow } from "../detect/TimeWindow.js";
import type { Report } from "../report/types.js";
import { nothingVerified, truncatedChains, type ChainSummaries } from "../integrity/failClosed.js";
import type { Settled } from "./ChainCarry.js";
import { writeSettled } from "./writeSettled.js";
import { progressTracker } from "./progress.js";
import type { EngineOptions, RunDeps } from "./types.js";
import { startRun } from "./startRun.js";
import { finishRun } from "./finishRun.js";
import type { WindowCarry } from "./WindowCarry.js";
import { newLocations } from "./newLocations.js";
import { scanSource } from "./scanSource.js";
import { unitContext } from "./unitContext.js";

/**
 * The engine (DESIGN "Architecture"): for each source, its sorted listing is cut into units (one region-day);
 * each unit is scanned (digests, trace files, ledger) and settled (verdicts across midnight), and its records go
 * to the report writer as it completes; then alerts are delivered as one digest. Memory holds one unit, the
 * alerts and the integrity findings, whatever the number of objects. Per-object failures are data in the report;
 * it throws only when a source cannot be listed or another run holds the ledger.
 */
export async function run(options: EngineOptions, deps: RunDeps): Promise<Report> {
  const started = await startRun(
    options,
    deps,
    deps.sources.map((s) => s.name),
    `${options.command} ${deps.sources.map((s) => s.name).join(" ")}`,
  );
  const { clock, startedAt, rules, collector, writer, tally, errors, ledger, header } = started;
  const window = new TimeWindow(options.since, options.until);
  try {
    await writer.begin(header);
    const progress = progressTracker(deps.onProgress);

    const write = (settled: Settled, windows: WindowCarry | undefined) =>
      writeSettled(settled, writer, tally, windows);

    const summaries: ChainSummaries = deps.shard?.summaries ?? new Map();
    const locations = newLocations(options, ledger);
    for (const source of deps.sources) {
      const ctx = unitContext(options, source, {
        rules,
        window,
        ledger,
        deps,
        progress,
        tally,
        startedAt,
        summaries,
        clock,
      });
      await scanSource(source, ctx, { deps, write, locations, window, tally });
    }
    // A fan-out shard sees part of the run: its reducer judges the merged summaries instead.
    if (options.verify !== "off" && !deps.shard) {
      // Fail closed (DESIGN "Integrity"): chains cut short, and a run that verified nothing, judged over the run.
      const partial = deps.sources.every((s) => s.partial);
      const none = nothingVerified(summaries, { partial, since: options.since, until: options.until });
      for (const g of [...truncatedChains(summaries, { partial }), ...(none ? [none] : [])]) {
        tally.gap(g);
        await writer.gap(g);
      }
    }
    progress.finish();

    return await finishRun({ options, deps, header, tally, ledger, writer, collector, errors, clock });
  } finally {
    await ledger.close();
  }
}
