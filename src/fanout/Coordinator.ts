import { units } from "../engine/units.js";
import type { EngineOptions } from "../engine/types.js";
import { describeError } from "../errors.js";
import type { Report } from "../report/types.js";
import { ObsBucket, type ObsConnection } from "../sources/ObsBucket.js";
import { ObsSource } from "../sources/ObsSource.js";
import {
  DEFAULT_FAN_OUT_SHARD_OBJECTS,
  FanOutError,
  FanOutLayout,
  runIdOf,
  type Manifest,
  type ShardEvent,
  type ShardPlan,
  type ShardResult,
} from "./Manifest.js";
import { FunctionGraphError } from "./FunctionGraphClient.js";
import { reduce, type FailedShard, type ReduceDeps } from "./Reducer.js";
import { readManifest } from "./Worker.js";

/** How a backfill fans out. */
export interface FanOutSettings {
  /** The function each shard is an asynchronous invocation of. */
  functionUrn: string;
  /** Shards in flight at most (the account runs 100 functions at once by default, the OBS trigger included). */
  concurrency: number;
  /**
   * A shard is closed at the next unit (region-day) boundary once it holds this many objects or bytes
   * (`--fan-out-shard-objects`); a series cut there is judged across the cut by context units.
   */
  shardObjects: number;
  shardBytes: number;
  /** A shard without a result this long after its invocation is invoked again. */
  deadlineMs: number;
  /** Invocations of one shard at most, then it is a failed shard. */
  tries: number;
  /** How often the results folder is listed. */
  pollMs: number;
}

export const FAN_OUT_DEFAULTS: Omit<FanOutSettings, "functionUrn"> = {
  concurrency: 20,
  shardObjects: DEFAULT_FAN_OUT_SHARD_OBJECTS,
  shardBytes: 2 * 1024 ** 3,
  // The function's longest timeout (900 s) and time queued behind other invocations.
  deadlineMs: 30 * 60_000,
  tries: 3,
  pollMs: 5_000,
};

/** Progress of a fanned-out run, for a person. */
export interface FanOutProgress {
  runId: string;
  manifest: string;
  shards: number;
  done: number;
  failed: number;
  inFlight: number;
  invocations: number;
}

/** Queues one shard's invocation; returns the platform's request id. */
export interface Invoker {
  invokeAsync(functionUrn: string, event: ShardEvent): Promise<string>;
}

export interface CoordinatorDeps extends ReduceDeps {
  /** OBS for the sources and the state prefix. */
  connection: ObsConnection;
  /** `--state obs://bucket/prefix`: the manifest and results go under `<prefix>fanout/<run id>/`. */
  state: string;
  invoker: Invoker;
  onProgress?: (progress: FanOutProgress) => void;
  /** A reason stops the waiting (the coordinator function running out of time): the run can be resumed. */
  shouldStop?: () => string | undefined;
  sleep?: (ms: number) => Promise<void>;
}

/** The coordinator stopped waiting before every shard had a result: run it again to resume. */
export interface Paused {
  paused: string;
  runId: string;
  manifest: string;
}

/**
 * Plans shards from the sources' listings: whole units (region-days), a shard closed at the next unit boundary
 * once it holds `shardObjects` objects or `shardBytes` bytes, so that a busy series (a year of one account-region)
 * is cut into shards that each finish within the function's timeout. A shard cut mid-series gets the context its
 * chains need (ShardPlan `lead`: the series' previous two units; `trail`: the next unit), so that the reduced
 * results equal one run's. A single unit larger than the budget stays one shard (`units` caps a unit at 50,000
 * objects).
 */
export async function planShards(
  sources: readonly string[],
  options: EngineOptions,
  connection: ObsConnection,
  budget: Pick<FanOutSettings, "shardObjects" | "shardBytes">,
): Promise<ShardPlan[]> {
  const shards: ShardPlan[] = [];
  for (const [s, url] of sources.entries()) {
    const source = new ObsSource(url, {
      ...connection,
      window: { since: options.since, until: options.until },
    });
    let current: ShardPlan | undefined;
    // The key before the current unit (the previous unit's last), undefined at the listing's start.
    let before: string | undefined;
    let series: string | undefined;
    // Where the current series' last two units start (the key before each): a shard's lead context.
    let recent: Array<string | undefined> = [];
    for await (const unit of units(source.pages())) {
      const unitLast = unit.objects[unit.objects.length - 1]?.object.key;
      if (unitLast === undefined) continue;
      const sameSeries = unit.series === series;
      if (current && (current.objects >= budget.shardObjects || current.bytes >= budget.shardBytes)) {
        if (sameSeries) current.trail = { last: unitLast };
        shards.push(current);
        current = undefined;
      }
      if (!sameSeries) recent = [];
      if (!current) {
        current = {
          index: shards.length,
          source: s,
          ...(before !== undefined ? { after: before } : {}),
          last: "",
          objects: 0,
          bytes: 0,
          units: 0,
        };
        if (recent.length > 0) current.lead = recent[0] !== undefined ? { after: recent[0] } : {};
      }
      current.units++;
      for (const { object } of unit.objects) {
        current.objects++;
        current.bytes += object.size;
      }
      current.last = unitLast;
      recent.push(before);
      if (recent.length > 2) recent.shift();
      before = unitLast;
      series = unit.series;
    }
    if (current) shards.push(current);
  }
  return shards;
}

/**
 * The coordinator of an organisation-size backfill (DESIGN "Organisation-size backfills"): finds or writes the run's
 * manifest, invokes the function once per shard with only the manifest's location and the shard's index, keeps at
 * most `concurrency` in flight, invokes again a shard with no result by the deadline (at most `tries` times), then
 * reduces every result into one report and one digest. Results already written are found, so running it again
 * resumes the run.
 */
export async function coordinate(
  sources: readonly string[],
  options: EngineOptions,
  settings: FanOutSettings,
  deps: CoordinatorDeps,
): Promise<Report | Paused> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const inputs = {
    functionUrn: settings.functionUrn,
    sources: [...sources],
    options: {
      command: options.command,
      ...(options.since ? { since: options.since.toISOString() } : {}),
      ...(options.until ? { until: options.until.toISOString() } : {}),
      verify: options.verify,
      events: options.events,
      allow: [...options.allowList.entries],
      publicKey: options.publicKey.export({ type: "spki", format: "der" }).toString("base64"),
      concurrency: options.concurrency,
      maxDecompressedBytes: options.maxDecompressedBytes,
      // Every shard audits with the coordinator's rules file, whatever the function's CTS_AUDIT_RULES says.
      ...(options.rules ? { rules: options.rules } : {}),
    },
  };
  const runId = runIdOf(inputs);
  const layout = new FanOutLayout(deps.state, runId);
  const state = new ObsBucket(layout.bucket, deps.connection);
  let manifest: Manifest;
  if ((await state.getText(layout.manifestKey)) !== undefined) {
    manifest = await readManifest(state, layout);
    deps.warn?.(`resuming fan-out ${runId} (${layout.manifestUrl})`);
  } else {
    const shards = await planShards(sources, options, deps.connection, settings);
    manifest = { version: 1, runId, createdAt: new Date().toISOString(), ...inputs, shards };
    await state.putText(layout.manifestKey, JSON.stringify(manifest, null, 1));
  }

  const total = manifest.shards.length;
  const done = new Set<number>();
  const failed = new Map<number, string>();
  const tries = new Map<number, number>();
  const inFlight = new Map<number, number>(); // shard -> when invoked
  const queue = manifest.shards.map((s) => s.index);
  let invocations = 0;
  const progress = () =>
    deps.onProgress?.({
      runId,
      manifest: layout.manifestUrl,
      shards: total,
      done: done.size,
      failed: failed.size,
      inFlight: inFlight.size,
      invocations,
    });

  // `<index>.failed.json` found before this coordinator invoked the shard: a previous run's verdict, removed before
  // the shard is invoked again (running the command again retries failed shards). One that appears while the shard
  // is in flight is its worker's: a failure no new invocation fixes (a missing or corrupt manifest).
  const staleFailed = new Set<number>();
  let firstPoll = true;
  const poll = async () => {
    for (const o of await state.listAll(layout.shardsFolder)) {
      const parsed = layout.parseShardKey(o.key);
      if (!parsed || parsed.index >= total) continue;
      if (parsed.status === "done") {
        done.add(parsed.index);
        failed.delete(parsed.index);
        inFlight.delete(parsed.index);
      } else if (firstPoll) staleFailed.add(parsed.index);
      else if (inFlight.has(parsed.index) && !staleFailed.has(parsed.index)) {
        const text = await state.getText(o.key);
        let reason = "its worker wrote a failure without a reason";
        try {
          reason = (JSON.parse(text ?? "{}") as { reason?: string }).reason ?? reason;
        } catch {
          // An unreadable marker still says the worker gave up.
        }
        inFlight.delete(parsed.index);
        failed.set(parsed.index, reason);
      }
    }
    firstPoll = false;
  };

  for (;;) {
    await poll();
    const now = Date.now();
    for (const [index, at] of inFlight) {
      if (now - at < settings.deadlineMs) continue;
      inFlight.delete(index);
      if ((tries.get(index) ?? 0) < settings.tries) queue.unshift(index);
      else {
        const reason = `no result after ${settings.tries} invocations, each given ${Math.round(settings.deadlineMs / 1000)} s`;
        failed.set(index, reason);
        await state.putText(layout.shardKey(index, "failed"), JSON.stringify({ index, reason }));
      }
    }
    while (inFlight.size < settings.concurrency && queue.length > 0) {
      const index = queue.shift()!;
      if (done.has(index)) continue;
      if (staleFailed.has(index)) {
        await state.delete(layout.shardKey(index, "failed"));
        staleFailed.delete(index);
      }
      try {
        await deps.invoker.invokeAsync(settings.functionUrn, {
          fanOutShard: { manifest: layout.manifestUrl, shard: index },
        });
      } catch (err) {
        // Throttled or unreachable after the client's retries: the shard waits for a later round, untried.
        if (
          err instanceof FunctionGraphError &&
          (err.status === 0 || err.status === 429 || err.status >= 500)
        ) {
          queue.unshift(index);
          deps.warn?.(`invoking shard ${index} failed, will try again: ${describeError(err)}`);
          break;
        }
        throw err;
      }
      invocations++;
      tries.set(index, (tries.get(index) ?? 0) + 1);
      inFlight.set(index, Date.now());
    }
    progress();
    if (done.size + failed.size >= total) break;
    const stop = deps.shouldStop?.();
    if (stop) return { paused: stop, runId, manifest: layout.manifestUrl };
    await sleep(settings.pollMs);
  }

  const failedShards: FailedShard[] = [...failed].map(([index, reason]) => ({ index, reason }));
  async function* results(): AsyncGenerator<ShardResult> {
    for (const plan of manifest.shards) {
      if (!done.has(plan.index)) continue;
      const text = await state.getText(layout.shardKey(plan.index, "done"));
      if (text === undefined)
        throw new FanOutError("RESULT_GONE", `${layout.shardKey(plan.index, "done")} vanished`);
      yield JSON.parse(text) as ShardResult;
    }
  }
  return reduce(manifest, options, results(), failedShards, deps);
}
