import type { EngineOptions, RunDeps } from "../engine/types.js";
import { finishRun } from "../engine/finishRun.js";
import { startRun } from "../engine/startRun.js";
import {
  mergeChainSummaries,
  nothingVerified,
  truncatedChains,
  type ChainSummaries,
} from "../integrity/failClosed.js";
import type { Report } from "../report/types.js";
import type { Manifest, ShardResult } from "./Manifest.js";
import { ShardWindows } from "./ShardWindows.js";

/** What the reducer delivers with: the run's sinks, as `run()` takes them. */
export type ReduceDeps = Pick<
  RunDeps,
  "notifier" | "ledger" | "report" | "clock" | "digestLimits" | "saveUnsent" | "warn" | "ledgerWaitMs"
>;

/** A shard that never produced a result, and why. */
export interface FailedShard {
  index: number;
  reason: string;
}

/**
 * The reducer: the shards' results, in shard (listing) order, replayed into one report with the single-machine
 * run's schema and record order; then the run-level judgements `run()` makes (truncated chains, nothing verified)
 * over the merged chain summaries, the windowed rules over every shard's login attempts (a window can straddle a
 * cut), and one delivery through the ledger: deduped, one digest, marked sent.
 * A failed shard is a run error naming its part of the listing (exit 1), never a silent hole.
 *
 * This repeats the tail of `run()` rather than sharing it: the engine's tail is interleaved with its unit loop,
 * and the fan-out must not change how a single-machine run behaves.
 */
export async function reduce(
  manifest: Manifest,
  options: EngineOptions,
  results: AsyncIterable<ShardResult>,
  failedShards: readonly FailedShard[],
  deps: ReduceDeps,
): Promise<Report> {
  const { clock, collector, writer, tally, errors, failed, ledger, header } = await startRun(
    options,
    deps,
    manifest.sources,
    `${options.command} ${manifest.sources.join(" ")} (fan-out ${manifest.runId})`,
  );
  try {
    await writer.begin(header);
    const summaries: ChainSummaries = new Map();
    const windows = new ShardWindows(options, tally, deps.warn, manifest.sources);
    for await (const result of results) {
      windows.source(manifest.shards[result.index]?.source ?? 0);
      for (const rec of result.records) {
        if (rec.t === "file") {
          tally.file(rec.r);
          await writer.file(rec.r);
        } else if (rec.t === "digest") {
          tally.digest(rec.r);
          await writer.digest(rec.r);
        } else {
          tally.gap(rec.r);
          await writer.gap(rec.r);
        }
      }
      // Shards come in listing order: the first file's alert of a trace delivered twice wins, as in one run.
      tally.alerts(result.alerts);
      mergeChainSummaries(summaries, result.summaries);
      await windows.add(result);
      for (const e of result.errors) failed(`shard ${result.index}: ${e}`);
    }
    windows.finish();
    for (const f of failedShards) {
      const plan = manifest.shards[f.index];
      const where = plan
        ? `${manifest.sources[plan.source]} keys ${plan.after ? `after ${plan.after}` : "from the start"} to ${plan.last}, ${plan.objects} objects`
        : "";
      failed(
        `fan-out shard ${f.index} (${where}) has no result: ${f.reason}; run the same command again to retry it`,
      );
    }
    // With a failed shard, chains are only partly seen: judging them would report its hole as truncation.
    if (options.verify !== "off" && failedShards.length === 0) {
      const none = nothingVerified(summaries, { since: options.since, until: options.until });
      for (const g of [...truncatedChains(summaries), ...(none ? [none] : [])]) {
        tally.gap(g);
        await writer.gap(g);
      }
    }

    return await finishRun({ options, deps, header, tally, ledger, writer, collector, errors, clock });
  } finally {
    await ledger.close();
  }
}
