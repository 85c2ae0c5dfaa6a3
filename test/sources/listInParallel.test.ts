/**
 * listInParallel against the listing it replaces (each prefix's pages one after another): the same pages in the
 * same order whatever the page sizes and the order in which answers arrive; never more prefixes in flight than
 * asked; a failure surfaces where the sequential listing would have failed, after the pages before it; a reader
 * that stops early stops the listing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { listInParallel, type ListedPage } from "../../src/sources/listInParallel.js";

/** A store of prefixes, each a list of pages; answers arrive after the given delays (in ticks). */
function store(folders: string[][][], delays: number[]) {
  let call = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const asked: string[] = [];
  const listPage = async (prefix: string, marker: string | undefined): Promise<ListedPage<string>> => {
    asked.push(`${prefix}@${marker ?? ""}`);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const wait = delays[call++ % Math.max(1, delays.length)] ?? 0;
    for (let i = 0; i < wait; i++) await new Promise((resolve) => setImmediate(resolve));
    inFlight--;
    const pages = folders[Number(prefix)]!;
    const at = marker === undefined ? 0 : Number(marker);
    const next = at + 1 < pages.length ? String(at + 1) : undefined;
    return { objects: pages[at] ?? [], ...(next !== undefined ? { next } : {}) };
  };
  return { listPage, stats: () => ({ maxInFlight, asked }) };
}

/** The reference: each prefix listed page after page, prefix after prefix. */
async function sequential(
  folders: string[][][],
  listPage: (p: string, m?: string) => Promise<ListedPage<string>>,
) {
  const out: string[][] = [];
  for (let p = 0; p < folders.length; p++) {
    let marker: string | undefined;
    do {
      const page = await listPage(String(p), marker);
      if (page.objects.length) out.push(page.objects);
      marker = page.next;
    } while (marker);
  }
  return out;
}

async function collect(it: AsyncIterable<string[]>): Promise<string[][]> {
  const out: string[][] = [];
  for await (const page of it) out.push(page);
  return out;
}

const foldersArb = fc
  .array(fc.array(fc.array(fc.string({ maxLength: 3 }), { maxLength: 4 }), { minLength: 1, maxLength: 4 }), {
    maxLength: 12,
  })
  .map((folders) =>
    folders.map((pages, f) => pages.map((objects, p) => objects.map((o) => `${f}/${p}/${o}`))),
  );

describe("listInParallel", () => {
  it("gives the pages of the sequential listing, in its order, with at most `concurrency` prefixes in flight", async () => {
    await fc.assert(
      fc.asyncProperty(
        foldersArb,
        fc.array(fc.nat({ max: 6 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        async (folders, delays, concurrency, bufferedPages) => {
          const prefixes = folders.map((_, i) => String(i));
          const expected = await sequential(folders, store(folders, []).listPage);
          const s = store(folders, delays);
          const got = await collect(listInParallel(prefixes, s.listPage, { concurrency, bufferedPages }));
          expect(got).toEqual(expected);
          expect(s.stats().maxInFlight).toBeLessThanOrEqual(concurrency);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("lists the prefixes ahead of the reader side by side", async () => {
    const folders = Array.from({ length: 6 }, (_, f) => [[`${f}/a`]]);
    const s = store(folders, [3]);
    await collect(
      listInParallel(["0", "1", "2", "3", "4", "5"], s.listPage, { concurrency: 4, bufferedPages: 2 }),
    );
    expect(s.stats().maxInFlight).toBe(4);
  });

  it("holds at most `bufferedPages` pages of a prefix the reader has not reached", async () => {
    // The first prefix answers slowly; the second has many pages and must wait for the reader after two.
    const folders = [[["0/a"]], Array.from({ length: 10 }, (_, p) => [`1/${p}`])];
    const s = store(folders, [50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const it = listInParallel(["0", "1"], s.listPage, { concurrency: 2, bufferedPages: 2 });
    const first = await it.next();
    expect(first.value).toEqual(["0/a"]);
    expect(s.stats().asked.filter((a) => a.startsWith("1@")).length).toBeLessThanOrEqual(2);
    const rest = await collect({ [Symbol.asyncIterator]: () => it });
    expect(rest).toEqual(folders[1]);
  });

  it("throws a prefix's failure where the sequential listing would, after every page before it", async () => {
    const folders = [[["0/a"], ["0/b"]], [["1/a"]], [["2/a"]], [["3/a"]]];
    const base = store(folders, [2, 0, 1]);
    const failing = (prefix: string, marker: string | undefined) =>
      prefix === "2" ? Promise.reject(new Error("listing 2 failed")) : base.listPage(prefix, marker);
    const got: string[][] = [];
    await expect(
      (async () => {
        for await (const page of listInParallel(["0", "1", "2", "3"], failing, {
          concurrency: 4,
          bufferedPages: 2,
        }))
          got.push(page);
      })(),
    ).rejects.toThrow("listing 2 failed");
    expect(got).toEqual([["0/a"], ["0/b"], ["1/a"]]);
  });

  it("stops listing when the reader stops", async () => {
    const folders = Array.from({ length: 20 }, (_, f) => Array.from({ length: 5 }, (_, p) => [`${f}/${p}`]));
    const s = store(folders, [1]);
    for await (const page of listInParallel(
      folders.map((_, i) => String(i)),
      s.listPage,
      { concurrency: 3, bufferedPages: 1 },
    )) {
      expect(page).toEqual(["0/0"]);
      break;
    }
    const asked = s.stats().asked.length;
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    // At most the pages in flight when it stopped were still answered; nothing was asked after.
    expect(s.stats().asked.length).toBe(asked);
    expect(asked).toBeLessThan(10);
  });
});
