import type { Readable } from "node:stream";

/** One object a source lists. */
export interface SourceObject {
  /** Key relative to the bucket root (`/` separators). */
  key: string;
  size: number;
  /** Hex MD5 when the store knows it (the OBS ETag of a non-multipart object), without quotes. */
  etag?: string;
  lastModified?: Date;
  /** The user named this object directly (a single file): read it as a trace file whatever its name. */
  explicit?: boolean;
  /** The listing found it but it cannot be read as an object (a dangling or outside symbolic link): why. */
  unreadable?: string;
}

/** Where objects come from: a local copy of a bucket, a single file, or an OBS bucket prefix. */
export interface ObjectSource {
  /** As the user wrote it, for the report and messages, e.g. `./archive` or `obs://bucket/CloudTraces/`. */
  readonly name: string;
  /**
   * The listing is not the whole bucket (the function's one triggering object): a file whose digest is not in the
   * listing is `pending`, not `unverified`.
   */
  readonly partial?: boolean;
  /**
   * Every request waits on a round trip (OBS): the engine then reads the next unit's listing and digests while
   * the current unit's files are read. A local store answers at once and is read one unit after another.
   */
  readonly remote?: boolean;
  /** Name of the bucket objects belong to (a digest's `digest_bucket`), when known. */
  readonly bucket: string | undefined;
  /**
   * Every object under the source, streamed page by page (an OBS listing page, a folder's files) in byte order of
   * the key (an OBS listing's order), so that the engine can cut it into units without holding it. Pages, not
   * single objects: a million objects through an async iterator a piece cost more than the listing itself.
   */
  pages(): AsyncIterable<readonly SourceObject[]>;
  /** The stored bytes of one object, streamed. */
  open(key: string): Promise<Readable>;
  /**
   * The stored bytes of one object in one piece when it holds at most `maxBytes` (what the listing said), else
   * streamed as by `open` (it changed since the listing). A failure part-way is a SourceError with code READ:
   * worth reading again.
   */
  read?(key: string, maxBytes: number): Promise<Buffer | Readable>;
  /**
   * As `read`, with the object's user metadata (as `metadata` gives it) from the same request: a store where
   * metadata costs a request of its own (OBS: a HEAD) reads a digest in one.
   */
  readWithMetadata?(
    key: string,
    maxBytes: number,
  ): Promise<{ body: Buffer | Readable; metadata: Record<string, string> }>;
  /** User metadata of an object (lower-case keys, without `x-obs-meta-` prefixes); `{}` when it has none. */
  metadata(key: string): Promise<Record<string, string>>;
}

/** Every object of a source, one at a time (for callers that do not need pages). */
export async function* listObjects(source: ObjectSource): AsyncGenerator<SourceObject> {
  for await (const page of source.pages()) yield* page;
}
