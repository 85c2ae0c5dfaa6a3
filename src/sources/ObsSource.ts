import ObsClient from "esdk-obs-nodejs";
import type { Readable } from "node:stream";
import { describeError, SourceError } from "../errors.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "../retry.js";
import { parseObsUrl } from "./obsUrl.js";
import type { ObjectSource, SourceObject } from "./types.js";

/** Credentials and endpoint for OBS. */
export interface ObsOptions {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  securityToken?: string;
  /** Seconds the SDK waits for a response. */
  timeoutSeconds?: number;
  retry?: RetryPolicy;
  /** Narrow the listing to the day folders this window needs (both padded and unpadded spellings). */
  window?: { since?: Date; until?: Date };
}

/** An OBS error with the HTTP status, for retry decisions and messages. */
export class ObsError extends SourceError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ESOCKETTIMEDOUT",
]);

/** 5xx, 429, timeouts and connection failures are worth another try; 403 or 404 are not. */
export function isTransientObsError(err: unknown): boolean {
  if (err instanceof ObsError) return err.status === 0 || err.status === 429 || err.status >= 500;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
  return /socket hang up|timeout|ECONNRESET|network/i.test(describeError(err));
}

function day(date: Date, padded: boolean): string {
  const m = date.getUTCMonth() + 1;
  const d = date.getUTCDate();
  const p = (n: number) => (padded ? String(n).padStart(2, "0") : String(n));
  return `${date.getUTCFullYear()}/${p(m)}/${p(d)}/`;
}

/**
 * An OBS bucket prefix, read through esdk-obs-nodejs: paged listing (1,000 keys a page), streaming getObject with
 * back-pressure, digest signatures from object metadata, ETags from the listing. Transient failures (5xx, 429,
 * resets, timeouts) are retried with jittered exponential backoff: the SDK's own retry is switched off because it
 * does not cover a stream that breaks after the headers.
 */
export class ObsSource implements ObjectSource {
  readonly name: string;
  readonly bucket: string;
  readonly prefix: string;
  private readonly retry: RetryPolicy;
  private readonly ready: Promise<void>;
  private readonly client: ObsClient;
  /** Requests sent, by operation (for the backfill-efficiency bench and tests). */
  readonly requests = { list: 0, get: 0, head: 0 };

  constructor(
    url: string,
    private readonly options: ObsOptions,
  ) {
    const parsed = parseObsUrl(url);
    if (!parsed) throw new SourceError("BAD_URL", `${url} is not obs://bucket[/prefix]`);
    this.name = url;
    this.bucket = parsed.bucket;
    this.prefix = parsed.prefix;
    this.retry = options.retry ?? DEFAULT_RETRY;
    const client = new ObsClient({
      access_key_id: options.accessKeyId,
      secret_access_key: options.secretAccessKey,
      security_token: options.securityToken,
      server: options.endpoint,
      max_retry_count: 0,
      timeout: options.timeoutSeconds ?? 60,
    });
    this.client = client;
    // `new ObsClient()` finishes initialising asynchronously: a call in the same tick throws
    // "Cannot read properties of null (reading 'signature')". Wait until it has its server set.
    this.ready = (async () => {
      for (let i = 0; i < 200 && !client.util?.server; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
  }

  private async call<T>(
    what: string,
    key: string,
    fn: () => Promise<{
      CommonMsg: { Status: number; Code: string; Message: string };
      InterfaceResult: T | null;
    }>,
  ): Promise<T> {
    await this.ready;
    return withRetry(
      this.retry,
      async () => {
        let result;
        try {
          result = await fn();
        } catch (err) {
          throw new ObsError(0, "NETWORK", `${what} ${key} failed: ${describeError(err)}`, { cause: err });
        }
        const { Status, Code, Message } = result.CommonMsg;
        if (Status >= 300 || !result.InterfaceResult) {
          const hint =
            Status === 403
              ? " (check HUAWEICLOUD_SDK_AK/SK and the agency's OBS read permission)"
              : Status === 404 && Code === "NoSuchBucket"
                ? " (check the bucket name)"
                : "";
          throw new ObsError(
            Status,
            Code || `HTTP_${Status}`,
            `${what} ${key} failed: ${Status} ${Code} ${Message}${hint}`.trim(),
          );
        }
        return result.InterfaceResult;
      },
      isTransientObsError,
    );
  }

  /** The prefixes to list: the whole prefix, or only the day folders a window needs. */
  private async listPrefixes(): Promise<string[]> {
    const window = this.options.window;
    const m = /^(.*CloudTraces\/)([^/]+\/)?$/.exec(this.prefix);
    if (!window?.since || !m) return [this.prefix];
    let regions: string[];
    if (m[2]) regions = [this.prefix];
    else {
      regions = [];
      let marker: string | undefined;
      for (;;) {
        const page = await this.call("list", this.prefix, () => {
          this.requests.list++;
          return this.client.listObjects({
            Bucket: this.bucket,
            Prefix: this.prefix,
            Delimiter: "/",
            MaxKeys: 1000,
            Marker: marker,
          });
        });
        regions.push(...page.CommonPrefixes.map((p) => p.Prefix));
        if (page.IsTruncated !== "true" || !page.NextMarker) break;
        marker = page.NextMarker;
      }
      // No folders seen (an empty prefix, or a store without delimiter support such as s3rver): list it all,
      // which is slower but never misses an object.
      if (regions.length === 0) return [this.prefix];
    }
    // A day early and a day late: digests covering the window's first hour land in the previous day's folder
    // rarely, and files of its last hour in the next day's. The engine filters by time anyway.
    const first =
      Date.UTC(window.since.getUTCFullYear(), window.since.getUTCMonth(), window.since.getUTCDate()) - 864e5;
    const lastTime = window.until ?? new Date();
    const last = Date.UTC(lastTime.getUTCFullYear(), lastTime.getUTCMonth(), lastTime.getUTCDate()) + 864e5;
    const prefixes = new Set<string>();
    for (const region of regions) {
      for (let t = first; t <= last; t += 864e5) {
        prefixes.add(region + day(new Date(t), true));
        prefixes.add(region + day(new Date(t), false));
      }
    }
    return [...prefixes].sort();
  }

  async *list(): AsyncIterable<SourceObject> {
    const all: SourceObject[] = [];
    for (const prefix of await this.listPrefixes()) {
      let marker: string | undefined;
      for (;;) {
        const page = await this.call("list", prefix || "/", () => {
          this.requests.list++;
          return this.client.listObjects({
            Bucket: this.bucket,
            Prefix: prefix,
            MaxKeys: 1000,
            Marker: marker,
          });
        });
        for (const o of page.Contents) {
          all.push({
            key: o.Key,
            size: Number(o.Size),
            etag: o.ETag.replace(/"/g, "").toLowerCase(),
            lastModified: new Date(o.LastModified),
          });
        }
        if (page.IsTruncated !== "true" || page.Contents.length === 0) break;
        // Without a delimiter S3 and OBS may leave NextMarker empty: the last key is the marker.
        marker = page.NextMarker || page.Contents[page.Contents.length - 1]!.Key;
      }
    }
    // Prefixes of several day folders are listed one after another; one sorted order, like a single listing.
    all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* all;
  }

  async open(key: string): Promise<Readable> {
    const result = await this.call("get", key, () => {
      this.requests.get++;
      return this.client.getObject({ Bucket: this.bucket, Key: key, SaveAsStream: true });
    });
    return result.Content;
  }

  async metadata(key: string): Promise<Record<string, string>> {
    const result = await this.call("head", key, () => {
      this.requests.head++;
      return this.client.getObjectMetadata({ Bucket: this.bucket, Key: key });
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(result.Metadata ?? {})) out[k.toLowerCase()] = String(v);
    return out;
  }
}
