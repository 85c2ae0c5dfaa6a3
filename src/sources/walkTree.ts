import type { Stats } from "node:fs";
import { describeError } from "../errors.js";

/** Why a symbolic link is listed as an object the run cannot read; LocalSource words it (`unreadableReason`). */
export type WalkProblem =
  | { kind: "outside"; target: string }
  | { kind: "loop"; target: string }
  | { kind: "dangling"; error: unknown };

/** Where a walk puts what it finds: one page a time, built as the caller wants it (objects, or a page to post). */
export interface WalkSink<P> {
  newPage(): P;
  file(page: P, key: string, info: Stats): void;
  unreadable(page: P, key: string, problem: WalkProblem): void;
}

/** What a walk reads and how; see {@link walkTree}. */
export interface WalkOptions<P> {
  /** The synchronous calls the walk makes (node:fs): passed in, as the walk may run as code on a worker. */
  fs: {
    readdirSync: typeof import("node:fs").readdirSync;
    realpathSync: typeof import("node:fs").realpathSync;
    statSync: typeof import("node:fs").statSync;
  };
  /** `path.sep`. */
  sep: string;
  /** The source's folder, resolved. */
  root: string;
  /** Names ending so are metadata sidecars, not objects (LocalSource's SIDECAR_SUFFIX). */
  sidecarSuffix: string;
  /** Objects with a key up to this one (in the walk's order) were listed already: the walk skips them. */
  after?: string | undefined;
  sink: WalkSink<P>;
}

/**
 * Every file below `root`, streamed in the order of an OBS listing (byte order of the whole key), holding one
 * directory's entries per level, never the whole tree. A page is the files between two sub-folders; no page is
 * empty. Sorting a directory's entries by name, with "/" after a folder's name, gives exactly that order: `a-b`
 * (0x2D) comes before `a/x` (0x2F). So the keys come strictly increasing, and a walk told `after` can skip what a
 * walk before it listed: a folder whose keys all sort before `after` is not read at all, and the one walk's pages
 * continue the other's. Synchronous file-system calls on purpose: a listing of thousands of small trace files
 * spends more in thread-pool round trips (one per stat) than in the calls themselves.
 *
 * Symbolic links are never dropped silently: a link to a file or a folder inside the root is followed (its
 * target is read under the link's key); a dangling link, a link out of the root or a loop is listed as an
 * object the run skips, with the problem.
 *
 * Self-contained on purpose: it refers to nothing outside its own text (only its options and the language's
 * globals), because ListingWorker runs this very function's source on a worker thread. The same function on both
 * threads keeps one set of symlink rules and one order.
 */
export function* walkTree<P>(options: WalkOptions<P>): Generator<P> {
  const { fs, sep, root, sidecarSuffix, sink } = options;
  // Cleared once the walk passes it: the rest of the tree is compared no more.
  let after = options.after;
  const seen = new Set<string>();
  const realRoot = fs.realpathSync(root);

  function* walk(dir: string, prefix: string): Generator<P> {
    const real = dir === root ? realRoot : fs.realpathSync(dir);
    seen.add(real);
    const entries = fs.readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const full = dir + sep + entry.name;
      let isDir = entry.isDirectory();
      let problem: WalkProblem | undefined;
      if (entry.isSymbolicLink()) {
        try {
          const target = fs.realpathSync(full);
          if (target !== realRoot && !target.startsWith(realRoot + sep))
            problem = { kind: "outside", target };
          else {
            isDir = fs.statSync(target).isDirectory();
            if (isDir && seen.has(target)) problem = { kind: "loop", target };
          }
        } catch (error) {
          problem = { kind: "dangling", error };
        }
      }
      return { entry, full, isDir, problem, sortName: isDir && !problem ? `${entry.name}/` : entry.name };
    });
    entries.sort((a, b) => (a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0));
    let page = sink.newPage();
    let filled = false;
    for (const { entry, full, isDir, problem } of entries) {
      // Names from readdir hold no separator, and dir is already resolved: no path.join to pay per file.
      const key = prefix + entry.name;
      const folder = isDir && !problem;
      if (after !== undefined) {
        // A folder's keys all start with `key/`: all before `after` unless `after` is inside it.
        const below = folder ? `${key}/` : key;
        if (folder ? below < after && !after.startsWith(below) : key <= after) continue;
        if (!folder || !after.startsWith(below)) after = undefined;
      }
      if (problem) {
        sink.unreadable(page, key, problem);
        filled = true;
      } else if (isDir) {
        if (filled) {
          yield page;
          page = sink.newPage();
          filled = false;
        }
        yield* walk(full, `${key}/`);
      } else if (!entry.name.endsWith(sidecarSuffix) && (entry.isFile() || entry.isSymbolicLink())) {
        sink.file(page, key, fs.statSync(full));
        filled = true;
      }
    }
    if (filled) yield page;
    // Resolved again, as the walk always has: a folder removed while it was walked fails the listing here.
    seen.delete(fs.realpathSync(dir));
  }

  yield* walk(root, "");
}

/** The reason an unreadable link's object carries (SourceObject.unreadable): the same words on either thread. */
export function unreadableReason(problem: WalkProblem): string {
  switch (problem.kind) {
    case "outside":
      return `symbolic link to ${problem.target}, outside the source: not followed`;
    case "loop":
      return `symbolic link loop to ${problem.target}: not followed`;
    case "dangling":
      return `dangling symbolic link (${describeError(problem.error)})`;
  }
}
