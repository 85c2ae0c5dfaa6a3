import { Readable } from "node:stream";
import { describeError, SourceError } from "../errors.js";
import { listInParallel } from "./listInParallel.js";
import { ObsBucket, type ObsConnection } from "./ObsBucket.js";
import { parseObsUrl } from "./obsUrl.js";
import type { ObjectSource, SourceObject } from "./types.js";

/** An OBS prefix to read. */
export interface ObsOptions extends ObsConnection {
  /** Narrow the listing to the day folders this window needs (both padded and unpadded spellings). */
  window?: { since?: Date; until?: Date };
  /** Only these objects (the function's trigger event): no listing at all. */
  only?: SourceObject[];
  /**
   * Only keys after `after` (exclusive) up to `last` (inclusive) of the listing: a fan-out shard's part of it,
   * listed from its first key on rather than from the prefix's start.
   */
  range?: { after?: string; last?: string };
  /** Day folders listed at once (default 8): each costs a round trip or more, and they do not depend on each other. */
  listConcurrency?: number;
}

// A folder not yet being read holds at most this many listing pages: memory stays bounded by a few thousand
// entries a folder whatever a day holds.
const BUFFERED_PAGES = 2;

function day(date: Date, padded: boolean): string {
  const m = date.getUTCMonth() + 1;
  const d = date.getUTCDate();
  const p = (n: number) => (padded ? String(n).padStart(2, "0") : String(n));
  return `${date.getUTCFullYear()}/${p(m)}/${p(d)}/`;
}

/**
 * An OBS bucket prefix: paged listing (1,000 keys a page), streaming getObject, digest signatures from object
 * metadata, ETags from the listing. With a window, only the day folders it needs are listed.
 */
export class ObsSource implements ObjectSource {
  readonly name: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly partial: boolean;
  readonly remote = true;
  readonly client: ObsBucket;

  constructor(
    url: string,
    private readonly options: ObsOptions,
  ) {
    const parsed = parseObsUrl(url);
    if (!parsed) throw new SourceError("BAD_URL", `${url} is not obs://bucket[/prefix]`);
    this.name = url;
    this.bucket = parsed.bucket;
    this.prefix = parsed.prefix;
    this.partial = options.only !== undefined;
    this.client = new ObsBucket(parsed.bucket, options);
  }

  /** Requests sent so far, by operation. */
  get requests() {
    return this.client.requests;
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
      do {
        const page = await this.client.listPage(this.prefix, marker, "/");
        regions.push(...page.prefixes);
        marker = page.next;
      } while (marker);
      // No folders seen (an empty prefix, or a store without delimiter support such as s3rver): list it all,
      // which is slower but never misses an object.
      if (regions.length === 0) return [this.prefix];
    }
    // A day early and a day late: digests covering the window's first hour, and files of its last hour, can sit
    // in the neighbouring day's folder. The engine filters by time anyway.
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

  async *pages(): AsyncIterable<readonly SourceObject[]> {
    if (this.options.only) {
      yield this.options.only;
      return;
    }
    // Page by page, as OBS returns them: a listing of millions of keys is never held. The prefixes are sorted and
    // none contains another (each ends with "/"), so their listings in prefix order are one sorted order. A
    // window's day folders are listed side by side (a month is 60-odd folders, padded and unpadded, each a round
    // trip): the next units' listings are there when the engine reaches them. A fan-out shard's range lists from
    // its first key on and stops after its last.
    const { after, last } = this.options.range ?? {};
    const prefixes = (await this.listPrefixes()).filter((p) => last === undefined || p <= last);
    const pages = listInParallel(
      prefixes,
      (prefix, marker) =>
        this.client.listPage(prefix, marker ?? (after !== undefined && after > prefix ? after : undefined)),
      {
        concurrency: this.options.listConcurrency ?? 8,
        bufferedPages: BUFFERED_PAGES,
      },
    );
    for await (const page of pages) {
      const objects = last === undefined ? page : page.filter((o) => o.key <= last);
      if (objects.length) yield objects;
      if (objects.length < page.length) return;
    }
  }

  open(key: string): Promise<Readable> {
    return this.client.open(key);
  }

  /**
   * An object of a few MB in one piece: its one GET collected, so that it is parsed without the stream
   * machinery. Past `maxBytes` (the object changed since the listing) the rest streams on behind what was read:
   * the object is still downloaded once.
   */
  async read(key: string, maxBytes: number): Promise<Buffer | Readable> {
    return ObsSource.collect(key, await this.client.open(key), maxBytes);
  }

  /** As `read`, with the object's user metadata from the same GET (a digest's signature): no HEAD. */
  async readWithMetadata(
    key: string,
    maxBytes: number,
  ): Promise<{ body: Buffer | Readable; metadata: Record<string, string> }> {
    const { content, metadata } = await this.client.get(key);
    return { body: await ObsSource.collect(key, content, maxBytes), metadata };
  }

  private static async collect(key: string, stream: Readable, maxBytes: number): Promise<Buffer | Readable> {
    const source = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for (;;) {
        const next = await source.next();
        if (next.done) return Buffer.concat(chunks, size);
        chunks.push(next.value);
        size += next.value.length;
        if (size > maxBytes) break;
      }
    } catch (err) {
      stream.destroy();
      throw new SourceError("READ", `reading ${key} failed: ${describeError(err)}`, { cause: err });
    }
    return Readable.from(
      (async function* () {
        yield* chunks;
        for (;;) {
          const next = await source.next();
          if (next.done) return;
          yield next.value;
        }
      })(),
      { objectMode: false },
    );
  }

  metadata(key: string): Promise<Record<string, string>> {
    return this.client.metadata(key);
  }
}
