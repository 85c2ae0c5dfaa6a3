import { createHash } from "node:crypto";
import type { RulesConfig } from "../detect/RulesConfig.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import type { VerifyMode } from "../engine/types.js";
import { CtsAuditError } from "../errors.js";
import type { ChainSummary } from "../integrity/failClosed.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import { parseObsUrl } from "../sources/obsUrl.js";

/**
 * The default of `--fan-out-shard-objects`: every listed object read at the 30 objects/s a worker was measured at
 * (README "The model, with numbers") is 333 s, so a worker twice as slow, with its context units, still finishes
 * within the function's 900 s timeout. Here, not in the coordinator, so that the command line's options need not
 * load the fan-out.
 */
export const DEFAULT_FAN_OUT_SHARD_OBJECTS = 10_000;

/** A failure of the fan-out itself (not of one object): a manifest or result that cannot be read or written. */
export class FanOutError extends CtsAuditError {}

/**
 * One shard: a contiguous part of one source's sorted listing, whole units (region-days). A series (one region,
 * whose digest chains link across midnight) longer than the budget is cut between units; the shards on either side
 * of a cut list context units to judge the chains at the cut as one run would (DESIGN "Organisation-size
 * backfills"; `lead` and `trail` below, `src/engine/shardContext.ts`).
 *
 * Who reports what at a cut between unit D (the earlier shard's last) and unit D+1 (the later shard's first):
 * - the earlier shard reports every file and digest file of D with its final verdict: the files no digest of D
 *   lists, and D's unanchored digests, are judged with D+1's digests, read ahead and not reported;
 * - the later shard reports D+1's digests, the gaps and missing digests its chains (D's and D+1's digests) show
 *   that D's did not already (a gap across midnight, a digest of D+1 listing files of both days, a link to a
 *   missing digest of D), and the files D+1's digests list that neither day holds; D-1 and D are read only for
 *   that (their digests and keys), never reported;
 * - chain summaries count each digest and overdue file once, in the shard that reports it, so the reducer judges
 *   truncated chains (a chain that stops before the run's end) over the merged summaries as one run would.
 */
export interface ShardPlan {
  index: number;
  /** Index into {@link Manifest.sources}. */
  source: number;
  /** The key before the shard's first (exclusive), undefined from the listing's start. */
  after?: string;
  /** The shard's last key (inclusive). */
  last: string;
  /**
   * The shard starts mid-series: the worker lists from after `lead.after` (from the listing's start when absent),
   * and the units up to `after` (the series' previous two, at most) are context: their digests and keys only.
   */
  lead?: { after?: string };
  /** The shard ends mid-series: the worker lists up to `trail.last`, the next unit, and reads only its digests. */
  trail?: { last: string };
  /** What the plan counted, for sizing and progress. */
  objects: number;
  bytes: number;
  units: number;
}

/**
 * What every shard of a run runs with (DESIGN "Organisation-size backfills"): written once by the coordinator, read
 * by each worker, so that all shards apply the coordinator's rules whatever the function's own variables say.
 */
export interface Manifest {
  version: 1;
  runId: string;
  createdAt: string;
  /** The function every shard is an invocation of. */
  functionUrn: string;
  sources: string[];
  options: {
    command: "scan" | "verify";
    since?: string;
    until?: string;
    verify: VerifyMode;
    events: string[];
    allow: string[];
    /** The digest public key, SPKI DER in base64. */
    publicKey: string;
    concurrency: number;
    maxDecompressedBytes: number;
    /** The coordinator's rules file, effective (per-user allowlists, rules on or off, thresholds); absent: defaults. */
    rules?: RulesConfig;
  };
  shards: ShardPlan[];
}

/** One record a shard wrote, in the order the engine wrote it. */
export type ShardRecord =
  { t: "file"; r: FileRecord } | { t: "digest"; r: DigestRecord } | { t: "gap"; r: GapRecord };

/**
 * What a worker writes for its shard: everything the reducer needs to rebuild the single-machine report. Nothing
 * in it depends on when or how often the shard ran (`stats` aside), so a shard run twice writes the same result.
 */
export interface ShardResult {
  version: 1;
  runId: string;
  index: number;
  records: ShardRecord[];
  /** The shard's alerts, deduped by trace, in listing order of their first file. */
  alerts: Alert[];
  summaries: ChainSummary[];
  /**
   * The login attempts of each of the shard's own units, in listing order, for the windowed rules (brute-force,
   * password-spray, failures-then-success): a window can straddle a cut, so the reducer runs them over every
   * shard's attempts in order, as one run does, and the shard's `alerts` hold none of them. Absent in a result of
   * an older worker, whose alerts include its windowed alerts.
   */
  attempts?: UnitAttempts[];
  errors: string[];
  /** About the attempt that wrote the result: not compared. */
  stats?: { elapsedMs: number; requests?: Record<string, number> };
}

/** One unit's login attempts, as the engine gives them to the windowed rules. */
export interface UnitAttempts {
  unit: string;
  series: string;
  attempts: LoginAttempt[];
}

/** The state of a shard as its result objects say. */
export type ShardStatus = "done" | "failed";

/** Where a run's objects live: `<state prefix>fanout/<run id>/`. */
export class FanOutLayout {
  readonly bucket: string;
  readonly folder: string;

  constructor(
    state: string,
    readonly runId: string,
  ) {
    const parsed = parseObsUrl(state);
    if (!parsed) throw new FanOutError("BAD_STATE", `--state ${state} is not obs://bucket/prefix`);
    const prefix = parsed.prefix === "" || parsed.prefix.endsWith("/") ? parsed.prefix : `${parsed.prefix}/`;
    this.bucket = parsed.bucket;
    this.folder = `${prefix}fanout/${runId}/`;
  }

  /** The layout of a manifest's location (`obs://bucket/<prefix>fanout/<run>/manifest.json`). */
  static ofManifest(url: string): FanOutLayout {
    const m = /^(obs:\/\/.*?)fanout\/([A-Za-z0-9_-]+)\/manifest\.json$/.exec(url);
    if (!m) throw new FanOutError("BAD_EVENT", `${url.slice(0, 300)} is not a fan-out manifest location`);
    return new FanOutLayout(m[1]!, m[2]!);
  }

  get manifestKey(): string {
    return `${this.folder}manifest.json`;
  }

  get manifestUrl(): string {
    return `obs://${this.bucket}/${this.manifestKey}`;
  }

  get shardsFolder(): string {
    return `${this.folder}shards/`;
  }

  shardKey(index: number, status: ShardStatus): string {
    return `${this.shardsFolder}${index}.${status}.json`;
  }

  /** Reads `<index>.<status>.json` back; undefined for other keys. */
  parseShardKey(key: string): { index: number; status: ShardStatus } | undefined {
    // Anchored both ends, no leading zeros: exactly what shardKey writes (a stray `-1.done.json` is not shard 1).
    const m = /^(0|[1-9]\d*)\.(done|failed)\.json$/.exec(key.slice(this.shardsFolder.length));
    return m && key.startsWith(this.shardsFolder)
      ? { index: Number(m[1]), status: m[2] as ShardStatus }
      : undefined;
  }
}

/**
 * A run's id: the same inputs give the same id, so that running the coordinator again with the same command (and
 * an absolute window) finds the manifest and the results already written, and resumes.
 */
export function runIdOf(inputs: Omit<Manifest, "version" | "runId" | "createdAt" | "shards">): string {
  const text = JSON.stringify(inputs);
  return `run-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
}

/** The event a worker is invoked with: only where the manifest is and which shard, well under 256 KB. */
export interface ShardEvent {
  fanOutShard: { manifest: string; shard: number };
}

/** Whether an event is a well-formed shard invocation; {@link shardEventProblem} says what is wrong with one that is not. */
export function isShardEvent(event: unknown): event is ShardEvent {
  return isObject(event) && "fanOutShard" in event && shardEventProblem(event) === undefined;
}

/** What is wrong with a `{"fanOutShard": ...}` event, naming the field; undefined when it is well formed. */
export function shardEventProblem(event: unknown): string | undefined {
  const body = isObject(event) ? event.fanOutShard : undefined;
  if (!isObject(body))
    return 'fanOutShard: give {"manifest": "obs://.../fanout/<run id>/manifest.json", "shard": <index>}';
  if (typeof body.manifest !== "string" || !body.manifest.startsWith("obs://"))
    return `fanOutShard.manifest: ${show(body.manifest)} is not an obs:// manifest location: the coordinator writes it`;
  if (!Number.isSafeInteger(body.shard) || (body.shard as number) < 0)
    return `fanOutShard.shard: ${show(body.shard)} is not a shard index (a whole number from 0)`;
  return undefined;
}

/**
 * The body that starts a fanned-out run from a function event: a timer trigger's "additional information"
 * (`user_event`, a JSON string) or the event itself. `since`/`until` are ISO-8601 or durations back from the
 * trigger's time (`24h`).
 */
export interface FanOutRequest {
  sources: string[];
  functionUrn: string;
  since?: string;
  until?: string;
  concurrency?: number;
}

const TIMER_FIX =
  'set the timer trigger\'s additional information to {"fanOut": {"sources": ["obs://bucket/CloudTraces/"], "functionUrn": "urn:fss:...", "since": "24h"}}';

/**
 * The fan-out request an event carries: `{"fanOut": {...}}`, or a timer event whose user_event is that JSON. A
 * timer event is always meant for the fan-out (the function has no other timed work): one whose body is not a
 * request is a problem naming `user_event`, not an event silently ignored. The request's fields are checked by
 * the caller.
 */
export function fanOutRequestOf(
  event: unknown,
): { request: FanOutRequest } | { problem: string } | undefined {
  if (!isObject(event)) return undefined;
  let body: unknown = event;
  if (event.trigger_type === "TIMER") {
    if (typeof event.user_event !== "string" || event.user_event.trim() === "")
      return { problem: `timer trigger event without additional information (user_event): ${TIMER_FIX}` };
    try {
      body = JSON.parse(event.user_event) as unknown;
    } catch (err) {
      return {
        problem: `timer trigger's additional information (user_event) is not JSON (${String(err).slice(0, 120)}): ${TIMER_FIX}`,
      };
    }
    if (!isObject(body) || !("fanOut" in body))
      return {
        problem: `timer trigger's additional information (user_event) has no "fanOut" object: ${TIMER_FIX}`,
      };
  } else if (!("fanOut" in event)) return undefined;
  const f = (body as { fanOut?: unknown }).fanOut;
  return isObject(f)
    ? { request: f as unknown as FanOutRequest }
    : { problem: `fanOut: not an object: ${TIMER_FIX}` };
}

/** Whether the handler should hand the event to the fan-out (a shard, a request, or any timer event). */
export function isFanOutEvent(event: unknown): boolean {
  return isObject(event) && ("fanOutShard" in event || fanOutRequestOf(event) !== undefined);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return (JSON.stringify(value) ?? String(value)).slice(0, 120);
}
