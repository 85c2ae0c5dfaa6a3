import {
  closeSync,
  createReadStream,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
} from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { describeError, SourceError } from "../errors.js";
import type { ObjectSource, SourceObject } from "./types.js";

/** Sidecar files keep an object's metadata in a local copy of a bucket; they are not objects themselves. */
export const SIDECAR_SUFFIX = ".meta.json";

/**
 * A local directory laid out like a bucket (its root is the bucket root), or a single file.
 * Object keys are paths relative to the root with `/` separators.
 */
export class LocalSource implements ObjectSource {
  readonly bucket = undefined;
  private realRoot: string | undefined;
  private constructor(
    readonly name: string,
    private readonly root: string,
    private readonly single: string | undefined,
  ) {}

  /** Opens a directory or a file; a missing path is a SourceError naming it. */
  static async open(location: string): Promise<LocalSource> {
    let info;
    try {
      info = await stat(location);
    } catch (err) {
      throw new SourceError("SOURCE_NOT_FOUND", `source ${location} does not exist or cannot be read`, {
        cause: err,
      });
    }
    if (info.isDirectory()) return new LocalSource(location, path.resolve(location), undefined);
    const key = location.split(path.sep).join("/").replace(/^\.\//, "");
    return new LocalSource(location, path.resolve(path.dirname(location)), key);
  }

  async *pages(): AsyncIterable<readonly SourceObject[]> {
    if (this.single !== undefined) {
      const info = await stat(path.join(this.root, path.basename(this.single)));
      yield [{ key: this.single, size: info.size, lastModified: info.mtime, explicit: true }];
      return;
    }
    try {
      yield* this.walk(this.root, "");
    } catch (err) {
      if (err instanceof SourceError) throw err;
      throw new SourceError("LIST", `listing ${this.name} failed: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Every file below `dir`, streamed in the order of an OBS listing (byte order of the whole key), holding one
   * directory's entries per level, never the whole tree. Sorting a directory's entries by name, with "/" after a
   * folder's name, gives exactly that order: `a-b` (0x2D) comes before `a/x` (0x2F). Synchronous file-system calls
   * on purpose: a listing of thousands of small trace files spends more in thread-pool round trips (one per
   * stat) than in the calls themselves.
   *
   * Symbolic links are never dropped silently: a link to a file or a folder inside the root is followed (its
   * target is read under the link's key); a dangling link, a link out of the root or a loop is listed as an
   * object the run skips with the reason (`unreadable`).
   */
  private *walk(dir: string, prefix: string, seen: Set<string> = new Set()): Generator<SourceObject[]> {
    seen.add(realpathSync(dir));
    const realRoot = (this.realRoot ??= realpathSync(this.root));
    const entries = readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const full = dir + path.sep + entry.name;
      let isDir = entry.isDirectory();
      let problem: string | undefined;
      if (entry.isSymbolicLink()) {
        try {
          const target = realpathSync(full);
          if (target !== realRoot && !target.startsWith(realRoot + path.sep))
            problem = `symbolic link to ${target}, outside the source: not followed`;
          else {
            isDir = statSync(target).isDirectory();
            if (isDir && seen.has(target)) problem = `symbolic link loop to ${target}: not followed`;
          }
        } catch (err) {
          problem = `dangling symbolic link (${describeError(err)})`;
        }
      }
      return { entry, full, isDir, problem, sortName: isDir && !problem ? `${entry.name}/` : entry.name };
    });
    entries.sort((a, b) => (a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0));
    // A page is the files between two sub-folders, in order.
    let page: SourceObject[] = [];
    for (const { entry, full, isDir, problem } of entries) {
      // Names from readdir hold no separator, and dir is already resolved: no path.join to pay per file.
      const key = prefix + entry.name;
      if (problem) page.push({ key, size: 0, unreadable: problem });
      else if (isDir) {
        if (page.length) yield page;
        page = [];
        yield* this.walk(full, `${key}/`, seen);
      } else if (!entry.name.endsWith(SIDECAR_SUFFIX) && (entry.isFile() || entry.isSymbolicLink())) {
        const info = statSync(full);
        page.push({ key, size: info.size, lastModified: info.mtime });
      }
    }
    if (page.length) yield page;
    seen.delete(realpathSync(dir));
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
    // Synchronous on purpose: whole reads are for files of a few KB to a few MB (the common CTS file), where
    // fs.promises' four thread-pool round trips (open, fstat, read, close) cost far more than the calls.
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
        const n = readSync(fd, buffer, filled, buffer.length - filled, null);
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
