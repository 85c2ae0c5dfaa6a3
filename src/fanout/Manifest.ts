import { createHash } from "node:crypto";
import type { Alert } from "../detect/types.js";
import type { VerifyMode } from "../engine/types.js";
import { CtsAuditError } from "../errors.js";
import type { ChainSummary } from "../integrity/failClosed.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import { parseObsUrl } from "../sources/obsUrl.js";

/** A failure of the fan-out itself (not of one object): a manifest or result that cannot be read or written. */
export class FanOutError extends CtsAuditError {}

/** One shard: a contiguous part of one source's sorted listing, whole units (region-days) of whole series. */
export interface ShardPlan {
  index: number;
  /** Index into {@link Manifest.sources}. */
  source: number;
  /** The key before the shard's first (exclusive), undefined from the listing's start. */
  after?: string;
  /** The shard's last key (inclusive). */
  last: string;
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
  errors: string[];
  /** About the attempt that wrote the result: not compared. */
  stats?: { elapsedMs: number; requests?: Record<string, number> };
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
    const m = /(\d+)\.(done|failed)\.json$/.exec(key.slice(this.shardsFolder.length));
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

/** Whether an event is a shard invocation. */
export function isShardEvent(event: unknown): event is ShardEvent {
  const body = (event as { fanOutShard?: unknown } | null)?.fanOutShard as
    { manifest?: unknown; shard?: unknown } | undefined;
  return (
    typeof body === "object" &&
    body !== null &&
    typeof body.manifest === "string" &&
    Number.isInteger(body.shard) &&
    (body.shard as number) >= 0
  );
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

/** The fan-out request an event carries: `{"fanOut": {...}}`, or a timer event whose user_event is that JSON. */
export function fanOutRequestOf(event: unknown): FanOutRequest | undefined {
  if (typeof event !== "object" || event === null) return undefined;
  let body: unknown = event;
  const timer = event as { trigger_type?: unknown; user_event?: unknown };
  if (timer.trigger_type === "TIMER" && typeof timer.user_event === "string") {
    try {
      body = JSON.parse(timer.user_event) as unknown;
    } catch {
      return undefined;
    }
  }
  const f = (body as { fanOut?: unknown } | null)?.fanOut;
  return typeof f === "object" && f !== null ? (f as FanOutRequest) : undefined;
}

/** Whether the handler should hand the event to {@link fanOutEvent}. */
export function isFanOutEvent(event: unknown): boolean {
  return isShardEvent(event) || fanOutRequestOf(event) !== undefined;
}
