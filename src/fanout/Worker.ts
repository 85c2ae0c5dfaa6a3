import { AllowList } from "../detect/AllowList.js";
import { run } from "../engine/run.js";
import type { EngineOptions } from "../engine/types.js";
import type { ChainSummaries } from "../integrity/failClosed.js";
import { readPublicKey } from "../readPublicKey.js";
import type { ReportWriter } from "../report/types.js";
import { ObsBucket, type ObsConnection } from "../sources/ObsBucket.js";
import { ObsSource } from "../sources/ObsSource.js";
import {
  FanOutError,
  FanOutLayout,
  type Manifest,
  type ShardEvent,
  type ShardRecord,
  type ShardResult,
} from "./Manifest.js";

/** What a worker did with its shard. */
export interface ShardOutcome {
  index: number;
  /** `done`: the result was written now; `already`: a result existed (a duplicate delivery), nothing was run. */
  status: "done" | "already";
  objects: number;
  alerts: number;
}

/** Reads a run's manifest from OBS; a missing or unreadable one is a FanOutError naming it. */
export async function readManifest(bucket: ObsBucket, layout: FanOutLayout): Promise<Manifest> {
  const text = await bucket.getText(layout.manifestKey);
  if (text === undefined)
    throw new FanOutError(
      "NO_MANIFEST",
      `${layout.manifestUrl} does not exist: start the run with the coordinator`,
    );
  try {
    const m = JSON.parse(text) as Manifest;
    if (m.version !== 1 || !Array.isArray(m.shards)) throw new Error("not a version 1 manifest");
    return m;
  } catch (err) {
    throw new FanOutError(
      "BAD_MANIFEST",
      `${layout.manifestUrl} is not a cts-audit manifest: ${String(err)}`,
    );
  }
}

/** The engine options every shard of a manifest runs with (the coordinator's, not the function's variables). */
export function manifestOptions(manifest: Manifest): EngineOptions {
  const o = manifest.options;
  return {
    command: o.command,
    allowList: AllowList.parse(o.allow.map((value) => ({ value, origin: "fan-out manifest" }))),
    events: o.events,
    since: o.since ? new Date(o.since) : undefined,
    until: o.until ? new Date(o.until) : undefined,
    verify: o.verify,
    publicKey: readPublicKey(o.publicKey, "fan-out manifest"),
    concurrency: o.concurrency,
    dryRun: false,
    maxDecompressedBytes: o.maxDecompressedBytes,
  };
}

/** Keeps a shard's records in the order the engine writes them. */
class RecordingWriter implements ReportWriter {
  readonly records: ShardRecord[] = [];
  begin = async () => undefined;
  end = async () => undefined;
  file = async (r: ShardRecord["r"]) => void this.records.push({ t: "file", r } as ShardRecord);
  digest = async (r: ShardRecord["r"]) => void this.records.push({ t: "digest", r } as ShardRecord);
  gap = async (r: ShardRecord["r"]) => void this.records.push({ t: "gap", r } as ShardRecord);
}

/**
 * The worker (the deployed function, given a shard event): runs the engine on the shard's part of the listing and
 * writes `<index>.done.json`. It sends nothing and writes no ledger: delivery is the reducer's. Idempotent: the
 * result depends only on the manifest and the objects, and a shard that already has one is not run again.
 */
export async function runShard(
  event: ShardEvent,
  connection: ObsConnection,
  hooks: { warn?: (message: string) => void; shouldStop?: () => string | undefined } = {},
): Promise<ShardOutcome> {
  const started = Date.now();
  const { manifest: url, shard: index } = event.fanOutShard;
  const layout = FanOutLayout.ofManifest(url);
  const state = new ObsBucket(layout.bucket, connection);
  const manifest = await readManifest(state, layout);
  const plan = manifest.shards[index];
  if (!plan)
    throw new FanOutError("BAD_EVENT", `${url} has no shard ${index} (it has ${manifest.shards.length})`);
  const resultKey = layout.shardKey(index, "done");
  const existing = await state.getText(resultKey);
  if (existing !== undefined) {
    const r = JSON.parse(existing) as ShardResult;
    return { index, status: "already", objects: r.records.length, alerts: r.alerts.length };
  }

  const sourceUrl = manifest.sources[plan.source];
  if (sourceUrl === undefined)
    throw new FanOutError("BAD_MANIFEST", `${url}: shard ${index} names no source`);
  const options = manifestOptions(manifest);
  const source = new ObsSource(sourceUrl, {
    ...connection,
    window: { since: options.since, until: options.until },
    range: { ...(plan.after !== undefined ? { after: plan.after } : {}), last: plan.last },
  });
  const summaries: ChainSummaries = new Map();
  let stopped: string | undefined;
  const writer = new RecordingWriter();
  const report = await run(options, {
    sources: [source],
    report: writer,
    shard: { summaries },
    ...(hooks.warn ? { warn: hooks.warn } : {}),
    shouldStop: () => (stopped ??= hooks.shouldStop?.()),
  });
  // A shard cut short is no result: objects not started would read as skipped. The coordinator invokes it again.
  if (stopped !== undefined)
    throw new FanOutError(
      "SHARD_STOPPED",
      `shard ${index} of ${url} stopped (${stopped}); no result written`,
    );
  const result: ShardResult = {
    version: 1,
    runId: manifest.runId,
    index,
    records: writer.records,
    alerts: report.alerts,
    summaries: [...summaries.values()],
    errors: report.errors,
    stats: { elapsedMs: Date.now() - started, requests: { ...source.requests } },
  };
  // One put, at the end: a worker killed part-way leaves no result, and the coordinator invokes the shard again.
  await state.putText(resultKey, JSON.stringify(result));
  return { index, status: "done", objects: report.files.length, alerts: report.alerts.length };
}
