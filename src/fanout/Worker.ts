import { AllowList } from "../detect/AllowList.js";
import { run } from "../engine/run.js";
import type { EngineOptions } from "../engine/types.js";
import { describeError } from "../errors.js";
import type { ChainSummaries } from "../integrity/failClosed.js";
import { readPublicKey } from "../readPublicKey.js";
import { AttemptRecorder } from "./AttemptRecorder.js";
import type { ReportWriter } from "../report/types.js";
import { ObsBucket, type ObsConnection } from "../sources/ObsBucket.js";
import { ObsSource } from "../sources/ObsSource.js";
import {
  FanOutError,
  FanOutLayout,
  type Manifest,
  type ShardEvent,
  type ShardPlan,
  type ShardRecord,
  type ShardResult,
} from "./Manifest.js";

/** Failures of a shard that a new invocation would meet again. */
const PERMANENT = new Set(["NO_MANIFEST", "BAD_MANIFEST", "BAD_EVENT"]);

/** `<index>.failed.json` as a worker writes it: the shard cannot run, and why. */
export interface WorkerFailure {
  index: number;
  reason: string;
  by: "worker";
}

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
    if (typeof m !== "object" || m === null || m.version !== 1) throw new Error("not a version 1 manifest");
    const o = m.options as Partial<Manifest["options"]> | undefined;
    if (!Array.isArray(m.shards) || !Array.isArray(m.sources) || typeof o !== "object" || o === null)
      throw new Error("shards, sources or options missing");
    if (!Array.isArray(o.allow) || !Array.isArray(o.events) || typeof o.publicKey !== "string")
      throw new Error("options.allow, options.events or options.publicKey missing");
    return m;
  } catch (err) {
    throw new FanOutError(
      "BAD_MANIFEST",
      `${layout.manifestUrl} is not a cts-audit manifest (${String(err).slice(0, 200)}): delete it and run the coordinator again to plan the run anew`,
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
    ...(o.rules ? { rules: o.rules } : {}),
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
  let manifest: Manifest;
  let plan: ShardPlan;
  let sourceUrl: string;
  let options: EngineOptions;
  try {
    manifest = await readManifest(state, layout);
    const p = manifest.shards[index];
    if (!p)
      throw new FanOutError("BAD_EVENT", `${url} has no shard ${index} (it has ${manifest.shards.length})`);
    plan = p;
    const s = manifest.sources[plan.source];
    if (typeof s !== "string" || typeof plan.last !== "string")
      throw new FanOutError("BAD_MANIFEST", `${url}: shard ${index} names no source or no last key`);
    sourceUrl = s;
    try {
      options = manifestOptions(manifest);
    } catch (err) {
      throw new FanOutError("BAD_MANIFEST", `${url}: its options are unusable: ${describeError(err)}`, {
        cause: err,
      });
    }
  } catch (err) {
    // No invocation again can fix these: say so where the coordinator looks, so it reports the shard failed with
    // this reason at once rather than re-invoking it until its tries are spent.
    if (err instanceof FanOutError && PERMANENT.has(err.code)) {
      const failure: WorkerFailure = { index, reason: err.message, by: "worker" };
      await state.putText(layout.shardKey(index, "failed"), JSON.stringify(failure)).catch(() => undefined);
    }
    throw err;
  }
  const resultKey = layout.shardKey(index, "done");
  const existing = await state.getText(resultKey);
  if (existing !== undefined) {
    const r = JSON.parse(existing) as ShardResult;
    return { index, status: "already", objects: fileCount(r.records), alerts: r.alerts.length };
  }

  const source = new ObsSource(sourceUrl, {
    ...connection,
    window: { since: options.since, until: options.until },
    range: listedRange(plan),
  });
  // Cut mid-series: the source lists context units around the shard's own keys (ShardPlan lead/trail).
  const own =
    plan.lead || plan.trail
      ? { ...(plan.after !== undefined ? { after: plan.after } : {}), last: plan.last }
      : undefined;
  const attempts = new AttemptRecorder();
  const summaries: ChainSummaries = new Map();
  let stopped: string | undefined;
  const writer = new RecordingWriter();
  const report = await run(options, {
    sources: [source],
    report: writer,
    shard: { summaries, windows: attempts, ...(own ? { own } : {}) },
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
    attempts: attempts.units,
    errors: report.errors,
    stats: { elapsedMs: Date.now() - started, requests: { ...source.requests } },
  };
  // One put, at the end: a worker killed part-way leaves no result, and the coordinator invokes the shard again.
  await state.putText(resultKey, JSON.stringify(result));
  return { index, status: "done", objects: fileCount(writer.records), alerts: report.alerts.length };
}

/** What a shard's worker lists: its own keys, and the context units before and after them when it is cut. */
export function listedRange(plan: ShardPlan): { after?: string; last: string } {
  const after = plan.lead ? plan.lead.after : plan.after;
  return { ...(after !== undefined ? { after } : {}), last: plan.trail?.last ?? plan.last };
}

// The run's report holds no records (they went to the writer): count them there.
function fileCount(records: readonly ShardRecord[]): number {
  return records.filter((r) => r.t === "file").length;
}
