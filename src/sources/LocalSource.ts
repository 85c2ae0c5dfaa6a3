import {
  closeSync,
  createReadStream,
  openSync,
  read as fsRead,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
} from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { describeError, SourceError } from "../errors.js";
import { ListingWorker } from "./ListingWorker.js";
import type { ObjectSource, SourceObject } from "./types.js";
import { unreadableReason, walkTree, type WalkSink } from "./walkTree.js";

/** Sidecar files keep an object's metadata in a local copy of a bucket; they are not objects themselves. */
export const SIDECAR_SUFFIX = ".meta.json";

/**
 * Objects listed on the main thread before the rest of a tree's walk goes to a worker thread. A worker costs about
 * 25 ms of CPU to start (3 ms of it on the main thread) and saves the main thread about 5 µs an object (a stat, a
 * share of a readdir, the Stats object); past 5,000 objects listed in-thread its start is small against what the
 * listing has cost already, and every tree smaller than that (the sample bucket, the tests' trees, a day of a
 * busy account) never starts one. Measured on the scale corpora (docs/benchmarks.md, "Listing on a worker").
 */
export const LIST_ON_WORKER_AFTER = 5_000;

/** Files read whole from this size on are read on the thread pool (see LocalSource.read). */
export const ASYNC_READ_BYTES = 256 * 1024;

/** One read(2) of `fd` at its current position, on the thread pool. */
function readOnPool(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fsRead(fd, buffer, offset, length, null, (err, n) => (err ? reject(err) : resolve(n))),
  );
}

/** How a LocalSource lists. */
export interface LocalSourceOptions {
  /**
   * Objects listed on the main thread before the rest of the walk goes to a worker thread (ListingWorker):
   * `Infinity` never, `0` from the start. Default {@link LIST_ON_WORKER_AFTER}.
   */
  listOnWorkerAfter?: number;
}

/** The in-thread walk's pages: the objects themselves. */
const IN_THREAD: WalkSink<SourceObject[]> = {
  newPage: () => [],
  file: (page, key, info) => void page.push({ key, size: info.size, lastModified: info.mtime }),
  unreadable: (page, key, problem) => void page.push({ key, size: 0, unreadable: unreadableReason(problem) }),
};

/**
 * A local directory laid out like a bucket (its root is the bucket root), or a single file.
 * Object keys are paths relative to the root with `/` separators.
 */
export class LocalSource implements ObjectSource {
  readonly bucket = undefined;
  private readonly listOnWorkerAfter: number;
  private constructor(
    readonly name: string,
    private readonly root: string,
    private readonly single: string | undefined,
    options: LocalSourceOptions,
  ) {
    this.listOnWorkerAfter = options.listOnWorkerAfter ?? LIST_ON_WORKER_AFTER;
  }

  /** Opens a directory or a file; a missing path is a SourceError naming it. */
  static async open(location: string, options: LocalSourceOptions = {}): Promise<LocalSource> {
    let info;
    try {
      info = await stat(location);
    } catch (err) {
      throw new SourceError("SOURCE_NOT_FOUND", `source ${location} does not exist or cannot be read`, {
        cause: err,
      });
    }
    if (info.isDirectory()) return new LocalSource(location, path.resolve(location), undefined, options);
    const key = location.split(path.sep).join("/").replace(/^\.\//, "");
    return new LocalSource(location, path.resolve(path.dirname(location)), key, options);
  }

  /**
   * Every object in the order of an OBS listing (see walkTree, which also states the symbolic link rules). A large
   * tree is walked on a worker thread past its first `listOnWorkerAfter` objects (LocalSourceOptions).
   */
  async *pages(): AsyncIterable<readonly SourceObject[]> {
    if (this.single !== undefined) {
      const info = await stat(path.join(this.root, path.basename(this.single)));
      yield [{ key: this.single, size: info.size, lastModified: info.mtime, explicit: true }];
      return;
    }
    let worker: ListingWorker | undefined;
    try {
      if (this.listOnWorkerAfter <= 0) {
        worker = new ListingWorker({ root: this.root, sidecarSuffix: SIDECAR_SUFFIX });
        yield* worker.pages();
        return;
      }
      let listed = 0;
      for (const page of walkTree({
        fs: { readdirSync, realpathSync, statSync },
        sep: path.sep,
        root: this.root,
        sidecarSuffix: SIDECAR_SUFFIX,
        sink: IN_THREAD,
      })) {
        listed += page.length;
        if (listed >= this.listOnWorkerAfter) {
          // Started before this page is handed out: the thread starts while the consumer works on it.
          worker = new ListingWorker({
            root: this.root,
            sidecarSuffix: SIDECAR_SUFFIX,
            after: page.at(-1)!.key,
          });
          yield page;
          yield* worker.pages();
          return;
        }
        yield page;
      }
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError("LIST", `listing ${this.name} failed: ${describeError(err)}`, { cause: err });
    } finally {
      await worker?.stop();
    }
  }

  private resolve(key: string): string {
    if (this.single !== undefined) return path.join(this.root, path.basename(this.single));
    // A plain key (what the listing gives) maps onto the root as it is; anything that could climb out of the
    // root or name another place goes through path.resolve and the check below.
    if (!key.includes("..") && !key.startsWith("/") && !key.includes("\\") && !key.includes("\0"))
      return this.root + path.sep + (path.sep === "/" ? key : key.split("/").join(path.sep));
    const full = path.resolve(this.root, ...key.split("/"));
    if (!full.startsWith(this.root + path.sep)) {
      throw new SourceError("BAD_KEY", `object key ${key} points outside the source ${this.name}`);
    }
    return full;
  }

  async open(key: string): Promise<Readable> {
    const file = this.resolve(key);
    const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
    // Surface "not found" now, as a rejected promise, rather than as a stream error later.
    await new Promise<void>((resolve, reject) => {
      stream.once("open", () => resolve());
      stream.once("error", (err) =>
        reject(new SourceError("OBJECT_NOT_FOUND", `object ${key} cannot be read`, { cause: err })),
      );
    });
    return stream;
  }

  async read(key: string, maxBytes: number): Promise<Buffer | Readable> {
    // Synchronous open and close on purpose: whole reads are for files of a few KB to a few MB (the common CTS
    // file), where fs.promises' four thread-pool round trips (open, fstat, read, close) cost far more than the
    // calls. The read itself goes to the thread pool from ASYNC_READ_BYTES on: there the copy from the page cache
    // (about 1.2 ms a megabyte here, page faults included) outweighs one round trip, and this thread parses
    // meanwhile.
    const file = this.resolve(key);
    let fd: number;
    try {
      fd = openSync(file, "r");
    } catch (err) {
      throw new SourceError("OBJECT_NOT_FOUND", `object ${key} cannot be read`, { cause: err });
    }
    let whole: Buffer | undefined;
    try {
      // One byte more than the listing said: a file that grew since is streamed, never read without bound. No
      // fstat: the size is the listing's, and reading to the end tells the rest. A read that stops short of the
      // extra byte with exactly the listed size in hand has the file as listed: no further read (a system call a
      // file) just to see 0. Any other short read (a FUSE mount may return less) goes on reading.
      const buffer = Buffer.allocUnsafe(maxBytes + 1);
      let filled = 0;
      for (;;) {
        const n =
          maxBytes >= ASYNC_READ_BYTES
            ? await readOnPool(fd, buffer, filled, buffer.length - filled)
            : readSync(fd, buffer, filled, buffer.length - filled, null);
        filled += n;
        if (n === 0 || filled === maxBytes) {
          whole = buffer.subarray(0, filled);
          break;
        }
        if (filled > maxBytes) break;
      }
    } catch (err) {
      throw new SourceError("READ", `object ${key} cannot be read: ${describeError(err)}`, { cause: err });
    } finally {
      closeSync(fd);
    }
    return whole ?? this.open(key);
  }

  async metadata(key: string): Promise<Record<string, string>> {
    const sidecar = this.resolve(key) + SIDECAR_SUFFIX;
    // Most digests have no sidecar: one synchronous stat says so, where a promised open failing with ENOENT costs
    // thread-pool round trips and an error object (a rerun reads every digest again).
    if (statSync(sidecar, { throwIfNoEntry: false }) === undefined) return {};
    let text: string;
    try {
      text = await readFile(sidecar, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new SourceError("METADATA", `metadata sidecar of ${key} cannot be read`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new SourceError("METADATA", `metadata sidecar ${key}${SIDECAR_SUFFIX} is not valid JSON`, {
        cause: err,
      });
    }
    const out: Record<string, string> = {};
    if (parsed && typeof parsed === "object") {
      for (const [k, v] of Object.entries(parsed)) if (typeof v === "string") out[k.toLowerCase()] = v;
    }
    return out;
  }
}
