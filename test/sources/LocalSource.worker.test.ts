import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { SourceError } from "../../src/errors.js";
import { ListingWorker } from "../../src/sources/ListingWorker.js";
import { LocalSource, type LocalSourceOptions } from "../../src/sources/LocalSource.js";
import type { SourceObject } from "../../src/sources/types.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const base = mkdtempSync(path.join(tmpdir(), "cts-audit-listworker-"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function write(root: string, key: string, size: number, mtimeSeconds?: number): void {
  const file = path.join(root, ...key.split("/"));
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, Buffer.alloc(size, 0x61));
  if (mtimeSeconds !== undefined) utimesSync(file, mtimeSeconds, mtimeSeconds);
}

/**
 * Every kind of entry the walk treats apart: nested and empty folders, names sorting around "/" (`a-b` 0x2D,
 * `a.b` 0x2E, `a/x`, `a0` 0x30), a name holding a newline (the worker's pages join keys), names beyond ASCII,
 * sidecars, symbolic links inside (file and folder), outside, dangling and looping, and thousands of files (in
 * one folder, and over many), with sizes and times (fractions of a millisecond) that differ file by file.
 */
function richTree(): { root: string; objects: number } {
  const root = mkdtempSync(path.join(base, "tree-"));
  const outside = mkdtempSync(path.join(base, "outside-"));
  writeFileSync(path.join(outside, "file"), "x");
  let n = 0;
  const file = (key: string, size = n % 7, mtime = 1_600_000_000.123456 + n * 0.001) => {
    write(root, key, size, mtime);
    n++;
  };
  for (const key of [
    "a-b",
    "a/x",
    "a/z/deep",
    "a.b",
    "a0/deep/er/f",
    "a0b",
    "new\nline",
    "z/é",
    "z/😀",
    "z/＂",
  ])
    file(key);
  write(root, "a/x.meta.json", 3);
  write(root, "a.b.meta.json", 3);
  mkdirSync(path.join(root, "empty"));
  mkdirSync(path.join(root, "emptier", "inner"), { recursive: true });
  for (let i = 0; i < 3000; i++) file(`big/f${String(i).padStart(4, "0")}.json.gz`);
  for (let d = 0; d < 10; d++)
    for (let i = 0; i < 100; i++) file(`many/d${d}/g${String(i).padStart(3, "0")}`);
  mkdirSync(path.join(root, "links"));
  symlinkSync("../a-b", path.join(root, "links", "in-file"));
  symlinkSync("../a", path.join(root, "links", "in-dir"));
  symlinkSync(path.join(outside, "file"), path.join(root, "links", "out"));
  symlinkSync("./nowhere", path.join(root, "links", "dangling"));
  symlinkSync("..", path.join(root, "links", "loop"));
  symlinkSync(".", path.join(root, "links", "self"));
  // 4,010 files, the in-file link and the in-dir link's 2 files, 4 unreadable links.
  return { root, objects: n + 1 + 2 + 4 };
}

async function pagesOf(root: string, options: LocalSourceOptions): Promise<SourceObject[][]> {
  const source = await LocalSource.open(root, options);
  const pages: SourceObject[][] = [];
  for await (const page of source.pages()) pages.push([...page]);
  return pages;
}

/**
 * A node process of its own, its output collected; one that does not exit within `timeoutMs` is killed (code null)
 * rather than left to the test's own timeout.
 */
async function runChild(
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
  let out = "";
  let err = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, out, err };
}

describe("LocalSource on a worker thread", () => {
  const tree = richTree();

  it("the in-thread walk lists every kind of entry (the reference the worker is held to)", async () => {
    const pages = await pagesOf(tree.root, { listOnWorkerAfter: Infinity });
    const objects = pages.flat();
    expect(objects).toHaveLength(tree.objects);
    const keys = objects.map((o) => o.key);
    expect(keys.slice(0, 6)).toEqual(["a-b", "a.b", "a/x", "a/z/deep", "a0/deep/er/f", "a0b"]);
    expect(keys).toContain("new\nline");
    expect(keys).toContain("links/in-dir/z/deep");
    expect(keys.filter((k) => k.endsWith(".meta.json"))).toEqual([]);
    expect(
      objects.filter((o) => o.unreadable).map((o) => [o.key, o.unreadable?.split(" ").slice(0, 3)]),
    ).toEqual([
      ["links/dangling", ["dangling", "symbolic", "link"]],
      ["links/loop", ["symbolic", "link", "loop"]],
      ["links/out", ["symbolic", "link", "to"]],
      ["links/self", ["symbolic", "link", "loop"]],
    ]);
  });

  it.each([
    { name: "from the start", after: 0 },
    { name: "after the first page", after: 1 },
    { name: "past a few small pages", after: 5 },
    { name: "inside the folder of 3,000", after: 100 },
    { name: "at the end of the folder of 3,000", after: 3000 },
    { name: "among the many folders", after: 3500 },
    { name: "at the last page", after: 4016 },
    { name: "never (more than the tree holds)", after: 4018 },
  ])("gives exactly the in-thread walk's pages when it takes over $name", async ({ after }) => {
    const want = await pagesOf(tree.root, { listOnWorkerAfter: Infinity });
    const started = ListingWorker.started;
    const got = await pagesOf(tree.root, { listOnWorkerAfter: after });
    expect(got).toStrictEqual(want);
    expect(ListingWorker.started - started).toBe(after <= tree.objects ? 1 : 0);
    expect(ListingWorker.running).toBe(0);
  });

  it("a worker told any key lists exactly the keys after it", async () => {
    // Every cut, also mid-page and inside followed links, on a small tree (a worker each).
    const root = mkdtempSync(path.join(base, "cuts-"));
    for (const key of ["a-b", "a/x", "a/y/z", "a.b", "a0", "b/c/d/e", "b/c/f", "b/g", "c"])
      write(root, key, 1);
    symlinkSync("../b", path.join(root, "a", "link"));
    const keys = (await pagesOf(root, { listOnWorkerAfter: Infinity })).flat().map((o) => o.key);
    for (const [i, cut] of keys.entries()) {
      const worker = new ListingWorker({ root, sidecarSuffix: ".meta.json", after: cut });
      const rest: string[] = [];
      for await (const page of worker.pages()) rest.push(...page.map((o) => o.key));
      expect({ cut, rest }).toEqual({ cut, rest: keys.slice(i + 1) });
    }
  });

  it("on random trees, a worker taking over at any object gives the in-thread walk's objects", async () => {
    // Names from characters that sort just below, at and above "/" once a folder's name is followed by it.
    const name = fc.stringMatching(/^[-.0ab]{1,3}$/);
    const entry = fc.record({ path: fc.array(name, { minLength: 1, maxLength: 4 }), size: fc.nat(5) });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 25 }), fc.nat(30), async (entries, cut) => {
        const root = path.join(base, `random-${run++}`);
        mkdirSync(root);
        for (const { path: parts, size } of entries) {
          // A path that would put a file where a folder is (or the reverse) is left out.
          try {
            write(root, parts.join("/"), size);
          } catch {
            continue;
          }
        }
        const want = await pagesOf(root, { listOnWorkerAfter: Infinity });
        const got = await pagesOf(root, { listOnWorkerAfter: cut });
        expect(got).toStrictEqual(want);
        const keys = want.flat().map((o) => o.key);
        expect(keys).toEqual([...keys].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
      }),
      { numRuns: 40 },
    );
  });

  it.each([
    { name: "in-thread", after: Infinity },
    { name: "on a worker from the start", after: 0 },
    { name: "on a worker after the first page", after: 1 },
    { name: "on a worker after a few pages", after: 3 },
  ])("a folder removed mid-walk gives the in-thread walk's SourceError, $name", async ({ after }) => {
    // d15 goes once the root's folders are listed (by the worker too: it reads the root again when it starts):
    // the walk fails on entering it, after the pages before it. The worker is at most a few pages ahead: it has
    // not reached d15 at the removal.
    const root = path.join(base, `removed-${after}`);
    const make = () => {
      for (let d = 0; d < 20; d++) write(root, `d${String(d).padStart(2, "0")}/f`, d);
    };
    const run = async (options: LocalSourceOptions) => {
      make();
      const source = await LocalSource.open(root, options);
      const keys: string[] = [];
      try {
        for await (const page of source.pages()) {
          keys.push(...page.map((o) => o.key));
          if (keys.length === 4) rmSync(path.join(root, "d15"), { recursive: true });
        }
      } catch (err) {
        return { keys, err };
      }
      return { keys, err: undefined };
    };
    const want = await run({ listOnWorkerAfter: Infinity });
    const got = await run({ listOnWorkerAfter: after });
    expect(want.err).toBeInstanceOf(SourceError);
    expect(got.err).toBeInstanceOf(SourceError);
    const [w, g] = [want.err as SourceError, got.err as SourceError];
    expect({ code: g.code, message: g.message }).toEqual({ code: "LIST", message: w.message });
    expect(w.message).toMatch(
      /^listing .*removed-\S+ failed: ENOENT: no such file or directory, \w+ '.*d15'$/,
    );
    expect((g.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
    expect(got.keys).toEqual(want.keys);
    expect(want.keys).toHaveLength(15);
    expect(ListingWorker.running).toBe(0);
  });

  it("a root removed after opening gives the same SourceError on the worker", async () => {
    const messages = [];
    for (const after of [Infinity, 0]) {
      const root = path.join(base, "gone");
      write(root, "f", 1);
      const source = await LocalSource.open(root, { listOnWorkerAfter: after });
      rmSync(root, { recursive: true });
      const listing = source.pages()[Symbol.asyncIterator]();
      const err = await listing.next().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SourceError);
      messages.push((err as SourceError).message);
    }
    expect(messages[0]).toMatch(/^listing .*gone failed: ENOENT: no such file or directory/);
    expect(messages[1]).toBe(messages[0]);
  });

  it.each([
    { name: "after the first page", take: 1 },
    { name: "after a few pages", take: 4 },
    { name: "mid-way", take: 12 },
  ])("stopping $name ends the worker", async ({ take }) => {
    const source = await LocalSource.open(tree.root, { listOnWorkerAfter: 1 });
    let taken = 0;
    for await (const page of source.pages()) {
      expect(page.length).toBeGreaterThan(0);
      if (++taken === take) break;
    }
    expect(taken).toBe(take);
    // `return()` resolves once the worker's thread is gone.
    expect(ListingWorker.running).toBe(0);
  });

  it("a small tree and a single file start no worker", async () => {
    const started = ListingWorker.started;
    const small = mkdtempSync(path.join(base, "small-"));
    for (let i = 0; i < 40; i++) write(small, `CloudTraces/r/2026/01/0${i % 3}/f${i}`, 1);
    expect((await pagesOf(small, {})).flat()).toHaveLength(40);
    // Even told to use a worker from the start: one file is one page, listed at once.
    const single = await pagesOf(path.join(small, "CloudTraces", "r", "2026", "01", "00", "f0"), {
      listOnWorkerAfter: 0,
    });
    expect(single.flat().map((o) => o.explicit)).toEqual([true]);
    expect(ListingWorker.started).toBe(started);
  });

  it.each([
    { name: "the iterator returned after one page", mode: "return" },
    { name: "the iterator dropped after one page, never returned", mode: "drop" },
    { name: "the listing read to its end", mode: "all" },
  ])("the process exits by itself: $name", async ({ mode }) => {
    // A process of its own (tsx loads the TypeScript, and keeps function names with a helper the worker's code
    // must do without): a worker left running, or a handle left open, would keep it from exiting.
    const running = runChild(["--import", "tsx", path.join(here, "listChild.ts"), tree.root, mode], 20_000);
    const want = await pagesOf(tree.root, { listOnWorkerAfter: Infinity });
    const { code, out, err } = await running;
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out).toBe(
      mode === "all" ? `pages ${want.length} objects ${tree.objects} started 1\n` : "pages 1 started 1\n",
    );
  });
});

describe("keys listed on a worker", () => {
  it("are strings of their own: a key kept to the end of a run does not keep its whole page alive", async () => {
    // 30 folders (a page each) of 400 files with names of 200 characters: a page's keys are about 100 KB.
    const root = mkdtempSync(path.join(tmpdir(), "cts-audit-retain-"));
    try {
      for (let f = 0; f < 30; f++) {
        const dir = path.join(root, `d${String(f).padStart(2, "0")}`);
        mkdirSync(dir);
        for (let i = 0; i < 400; i++)
          writeFileSync(path.join(dir, `${"x".repeat(190)}${String(i).padStart(10, "0")}`), "");
      }
      const { code, out, err } = await runChild(
        ["--expose-gc", "--import", "tsx", path.join(here, "retainChild.ts"), root],
        60_000,
      );
      expect({ code, err }).toEqual({ code: 0, err: "" });
      const { pages, retainedBytes } = JSON.parse(out) as { pages: number; retainedBytes: number };
      expect(pages).toBe(30);
      // 30 keys of their own are a few KB; 30 whole pages kept by their keys were about 3 MB.
      expect(retainedBytes).toBeLessThan(300_000);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);
});
