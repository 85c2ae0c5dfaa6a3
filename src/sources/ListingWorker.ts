import { Worker } from "node:worker_threads";
import path from "node:path";
import type { SourceObject } from "./types.js";
import { unreadableReason, walkTree, type WalkProblem, type WalkSink } from "./walkTree.js";

/** Pages the worker may have posted that the consumer has not taken yet: the listing's memory bound. */
const PAGES_AHEAD = 4;

/** What the worker is told (workerData). */
interface WorkerInput {
  root: string;
  sep: string;
  sidecarSuffix: string;
  after: string | undefined;
  /** Int32Array over it: [0] pages the worker may still post, [1] 1 once the consumer stopped. */
  credits: SharedArrayBuffer;
}

/** An unreadable link in a posted page: its index in the page, its kind, and the target or the error message. */
type PostedProblem = [index: number, kind: WalkProblem["kind"], text: string];

/** An error as it crosses threads (an Error's own fields are lost to structured cloning but for message and name). */
interface PostedError {
  message: string;
  name?: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
  dest?: string;
}

/**
 * What the worker posts: a page, the end, or the error that ended the walk. A page's keys are their UTF-8 bytes
 * joined by NUL (the one character no file name holds) and its sizes and times one Float64Array, both moved, not
 * copied: structured cloning of an array of objects costs the receiving thread about what the worker saved it.
 * Bytes, not one string: the keys split from one string are slices that keep all of it alive, and a run holds some
 * keys to its end (its alerts'), each then holding its whole page (a 1,000,000-object run grew by 400 MB).
 */
type Posted =
  | { page: { keys: Uint8Array; numbers: Float64Array; problems: PostedProblem[] } }
  | { done: true }
  | { error: PostedError };

/**
 * The worker's program. Self-contained, as walkTree is: its source text is what the worker evaluates (with
 * walkTree's as the first argument), so it refers to nothing outside its text but its arguments and globals.
 */
function listWorkerMain(walk: typeof walkTree, load: (id: string) => unknown): void {
  const { parentPort, workerData } = load("node:worker_threads") as typeof import("node:worker_threads");
  const fs = load("node:fs") as typeof import("node:fs");
  const input = workerData as WorkerInput;
  const credits = new Int32Array(input.credits);
  const port = parentPort!;
  interface Page {
    keys: string[];
    numbers: number[];
    problems: PostedProblem[];
  }
  const sink: WalkSink<Page> = {
    newPage: () => ({ keys: [], numbers: [], problems: [] }),
    file(page, key, info) {
      page.keys.push(key);
      page.numbers.push(info.size, info.mtime.getTime());
    },
    unreadable(page, key, problem) {
      const text =
        problem.kind !== "dangling"
          ? problem.target
          : problem.error instanceof Error
            ? problem.error.message
            : String(problem.error);
      page.problems.push([page.keys.length, problem.kind, text]);
      page.keys.push(key);
      page.numbers.push(0, 0);
    },
  };
  try {
    const pages = walk({
      fs,
      sep: input.sep,
      root: input.root,
      sidecarSuffix: input.sidecarSuffix,
      after: input.after,
      sink,
    });
    for (const page of pages) {
      // Blocks this thread (it has nothing else to do) until the consumer takes a page or stops.
      for (;;) {
        if (Atomics.load(credits, 1) !== 0) return;
        const left = Atomics.load(credits, 0);
        if (left > 0) break;
        Atomics.wait(credits, 0, left);
      }
      Atomics.sub(credits, 0, 1);
      const numbers = new Float64Array(page.numbers);
      const keys = new TextEncoder().encode(page.keys.join("\0"));
      const posted: Posted = { page: { keys, numbers, problems: page.problems } };
      port.postMessage(posted, [numbers.buffer, keys.buffer]);
    }
    port.postMessage({ done: true } satisfies Posted);
  } catch (err) {
    const e = (err ?? {}) as NodeJS.ErrnoException & { dest?: string };
    const error: PostedError = { message: err instanceof Error ? err.message : String(err) };
    if (typeof e.name === "string") error.name = e.name;
    if (typeof e.code === "string") error.code = e.code;
    if (typeof e.errno === "number") error.errno = e.errno;
    if (typeof e.syscall === "string") error.syscall = e.syscall;
    if (typeof e.path === "string") error.path = e.path;
    if (typeof e.dest === "string") error.dest = e.dest;
    port.postMessage({ error } satisfies Posted);
  }
}

/**
 * The worker's code, evaluated as a CommonJS script (`require` is there). `__name` is defined because a loader
 * that keeps function names (tsx) wraps inner functions in a call to its own helper, which the worker lacks.
 */
const WORKER_CODE = `"use strict";
const __name = (f) => f;
(${listWorkerMain.toString()})(${walkTree.toString()}, require);
`;

/** Where a ListingWorker lists; see {@link walkTree}. */
export interface ListingWorkerOptions {
  /** The source's folder, resolved. */
  root: string;
  sidecarSuffix: string;
  /** The last key the caller listed itself: the worker lists what comes after it. */
  after?: string | undefined;
}

/**
 * A local source's walk (walkTree) on a worker thread, so that its system calls (a readdir a folder, a stat a
 * file) overlap the main thread's work. Started at construction: the thread's start-up (tens of ms) overlaps the
 * page the caller hands out meanwhile. The worker runs at most PAGES_AHEAD pages ahead of the consumer (credits
 * in shared memory, the worker blocking on them), and ends when the listing does, fails, or `stop` is called.
 *
 * Told `after`, the worker reads the folders above that key again (skipping what sorts before it): on a tree that
 * changes while it is listed, it sees those folders as they are then, as a walk sees any folder when it gets there.
 */
export class ListingWorker {
  static #started = 0;
  static #running = 0;
  /** Workers started in this process (tests: a small source starts none). */
  static get started(): number {
    return ListingWorker.#started;
  }
  /** Workers running now (tests: stopping early leaves none). */
  static get running(): number {
    return ListingWorker.#running;
  }

  readonly #worker: Worker;
  readonly #credits: Int32Array;
  readonly #queue: Posted[] = [];
  readonly #exited: Promise<void>;
  #wake: (() => void) | undefined;
  #failure: Error | undefined;
  #exitCode: number | undefined;

  constructor(options: ListingWorkerOptions) {
    const shared = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    this.#credits = new Int32Array(shared);
    this.#credits[0] = PAGES_AHEAD;
    const input: WorkerInput = {
      root: options.root,
      sep: path.sep,
      sidecarSuffix: options.sidecarSuffix,
      after: options.after,
      credits: shared,
    };
    this.#worker = new Worker(WORKER_CODE, {
      eval: true,
      workerData: input,
      // The listing allocates much and keeps little: a small young generation keeps the thread's memory small
      // (V8's default let it grow by tens of MB, which a run's peak memory paid).
      resourceLimits: { maxYoungGenerationSizeMb: 2 },
    });
    ListingWorker.#started++;
    ListingWorker.#running++;
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    this.#worker.on("message", (posted: Posted) => {
      this.#queue.push(posted);
      wake();
    });
    this.#worker.on("error", (err) => {
      this.#failure ??= err;
      wake();
    });
    this.#exited = new Promise((resolve) =>
      this.#worker.once("exit", (code) => {
        ListingWorker.#running--;
        this.#exitCode = code;
        wake();
        resolve();
      }),
    );
    // Only held while a page is awaited (below): a consumer that drops the listing never keeps the process alive.
    this.#worker.unref();
  }

  /** The pages after `after`, in the walk's order; the walk's error (an fs error, its fields kept) is thrown. */
  async *pages(): AsyncGenerator<SourceObject[]> {
    try {
      for (;;) {
        let posted = this.#queue.shift();
        while (posted === undefined) {
          if (this.#failure) throw this.#failure;
          if (this.#exitCode !== undefined)
            throw new Error(
              `the listing worker stopped (exit code ${this.#exitCode}) before the listing ended`,
            );
          this.#worker.ref();
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#worker.unref();
          posted = this.#queue.shift();
        }
        if ("done" in posted) return;
        if ("error" in posted) throw Object.assign(new Error(posted.error.message), posted.error);
        // A credit back as the consumer takes the page: it holds this one, the worker may post PAGES_AHEAD more.
        Atomics.add(this.#credits, 0, 1);
        Atomics.notify(this.#credits, 0);
        yield decode(posted.page);
      }
    } finally {
      await this.stop();
    }
  }

  /** Ends the worker (idempotent); resolves once its thread is gone. */
  async stop(): Promise<void> {
    if (this.#exitCode === undefined) {
      Atomics.store(this.#credits, 1, 1);
      // Changing the credits wakes a worker waiting on them even if it read them just before the stop.
      Atomics.add(this.#credits, 0, 1);
      Atomics.notify(this.#credits, 0);
      await this.#worker.terminate();
    }
    await this.#exited;
  }
}

/** A posted page as the objects the in-thread walk gives (the same fields, in the same order of creation). */
function decode(page: {
  keys: Uint8Array;
  numbers: Float64Array;
  problems: PostedProblem[];
}): SourceObject[] {
  const bytes = Buffer.from(page.keys.buffer, page.keys.byteOffset, page.keys.byteLength);
  const numbers = page.numbers;
  const objects: SourceObject[] = [];
  let p = 0;
  let nextProblem = page.problems[0]?.[0] ?? -1;
  let start = 0;
  for (let i = 0; i < numbers.length / 2; i++) {
    // A string of its own each (see Posted).
    const end = bytes.indexOf(0, start);
    const key = bytes.toString("utf8", start, end < 0 ? bytes.length : end);
    start = end + 1;
    if (i === nextProblem) {
      const [, kind, text] = page.problems[p++]!;
      const problem: WalkProblem =
        kind === "dangling" ? { kind, error: new Error(text) } : { kind, target: text };
      objects.push({ key, size: 0, unreadable: unreadableReason(problem) });
      nextProblem = page.problems[p]?.[0] ?? -1;
    } else objects.push({ key, size: numbers[2 * i]!, lastModified: new Date(numbers[2 * i + 1]!) });
  }
  return objects;
}
