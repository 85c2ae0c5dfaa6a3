/**
 * The json writer holds file, digest and gap records in memory up to a budget and spools them to temporary files
 * beyond it: the document is the same byte for byte whichever way its records went, a run within the budget
 * touches no disk, and one beyond it leaves no temporary file behind.
 */
import { readdirSync } from "node:fs";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { CtsAuditError } from "../../src/errors.js";
import { JsonWriter, SPOOL_MEMORY_CHARS } from "../../src/report/JsonWriter.js";
import type { DigestRecord, FileRecord, GapRecord, Report } from "../../src/report/types.js";
import { tempDir } from "../support/harness.js";

const header = {
  version: 1 as const,
  command: "scan" as const,
  sources: ["x"],
  startedAt: "s",
  window: {},
  verify: "warn" as const,
};
const tail = {
  finishedAt: "f",
  summary: {} as Report["summary"],
  alerts: [],
  notifications: [],
  errors: [],
  exitCode: 0 as const,
};

// Multi-byte and escaped characters in every record: a piece boundary or a spill must never split one.
const file = (i: number): FileRecord => ({
  object: `CloudTraces/r/2024/07/19/system/IAM/k${i}_\u00e9\u2028\u{1f600}"\\.json.gz`,
  kind: "trace",
  status: i % 7 === 0 ? "failed" : "scanned",
  traces: i % 5,
  integrity: "unverified",
  error: i % 7 === 0 ? `corrupt \u0000 gzip ${"x".repeat(i % 300)}` : "",
  bytes: i,
});
const digest = (i: number): DigestRecord =>
  ({
    object: `CloudTraces/r/2024/07/19/system/Digest/IAM/d${i}\u00e9.json`,
    chain: "c",
    status: "valid",
  }) as unknown as DigestRecord;
const gap = (i: number): GapRecord => ({ chain: `c\u00e9${i}`, from: "a", to: "b" }) as unknown as GapRecord;

type Write = { kind: "file"; i: number } | { kind: "digest"; i: number } | { kind: "gap"; i: number };

/** A run's writes: files with digests and gaps among them, as units settle. */
function writes(files: number): Write[] {
  const out: Write[] = [];
  for (let i = 0; i < files; i++) {
    out.push({ kind: "file", i });
    if (i % 97 === 0) out.push({ kind: "digest", i });
    if (i % 1013 === 5) out.push({ kind: "gap", i });
  }
  return out;
}

async function document(
  list: Write[],
  memoryChars: number | undefined,
  opts: { concurrent?: boolean; spoolDir?: string; duringRun?: () => void } = {},
): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const w =
    memoryChars === undefined
      ? new JsonWriter(out, opts.spoolDir)
      : new JsonWriter(out, opts.spoolDir ?? tempDir(), memoryChars);
  await w.begin(header);
  const one = (x: Write) =>
    x.kind === "file" ? w.file(file(x.i)) : x.kind === "digest" ? w.digest(digest(x.i)) : w.gap(gap(x.i));
  if (opts.concurrent) await Promise.all(list.map(one));
  else for (const x of list) await one(x);
  opts.duringRun?.();
  await w.end(tail);
  return Buffer.concat(chunks).toString("utf8");
}

describe("JsonWriter: records held in memory, then spooled to files", () => {
  const list = writes(3000);

  it("gives the same document held in memory, spooled from the first record, or spilled part-way", async () => {
    const held = await document(list, undefined);
    const parsed = JSON.parse(held) as Report;
    expect(parsed.files).toEqual(list.filter((x) => x.kind === "file").map((x) => file(x.i)));
    expect(parsed.digests).toEqual(list.filter((x) => x.kind === "digest").map((x) => digest(x.i)));
    expect(parsed.gaps).toEqual(list.filter((x) => x.kind === "gap").map((x) => gap(x.i)));
    for (const budget of [0, 1, 5_000, 100_000, 700_000]) expect(await document(list, budget)).toBe(held);
    // Writes not awaited one by one (the spill starts while records keep arriving): the same document.
    for (const budget of [0, 5_000, 100_000])
      expect(await document(list, budget, { concurrent: true })).toBe(held);
  });

  it("a spool of megabytes, copied out in pieces of a megabyte, gives the same document", async () => {
    const many = writes(30_000);
    const held = await document(many, undefined);
    expect(Buffer.byteLength(held)).toBeGreaterThan(3 << 20);
    expect(await document(many, 0)).toBe(held);
  });

  it("empty arrays, and a run of digests only, the same either way", async () => {
    expect(await document([], 0)).toBe(await document([], undefined));
    const digests: Write[] = Array.from({ length: 50 }, (_, i) => ({ kind: "digest", i }));
    expect(await document(digests, 10)).toBe(await document(digests, undefined));
  });

  it("within the budget it creates no temporary file; beyond it, a spool it removes at the end", async () => {
    const spoolDir = tempDir();
    await document(list, undefined, {
      spoolDir,
      duringRun: () => expect(readdirSync(spoolDir)).toEqual([]),
    });
    // The default budget holds a few thousand records (this one's text is well under it).
    expect(JSON.stringify(list.map((x) => file(x.i))).length).toBeLessThan(SPOOL_MEMORY_CHARS);
    let during: string[] = [];
    await document(list, 5_000, { spoolDir, duringRun: () => (during = readdirSync(spoolDir)) });
    expect(during).toHaveLength(1);
    expect(during[0]).toMatch(/^cts-audit-report-/);
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it("needs no temporary directory within the budget; beyond it, one that cannot be made is an error naming it", async () => {
    const missing = `${tempDir()}/not-there`;
    const held = await document(list, undefined);
    expect(await document(list, undefined, { spoolDir: missing })).toBe(held);
    const failed = await document(list, 5_000, { spoolDir: missing }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(CtsAuditError);
    expect((failed as CtsAuditError).code).toBe("REPORT_SPOOL");
    expect((failed as Error).message).toContain(missing);
    expect((failed as Error).message).toContain("TMPDIR");
  });
});
