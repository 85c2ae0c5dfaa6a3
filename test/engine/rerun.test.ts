/**
 * A rerun over a local ledger (DESIGN "State and idempotency"): whatever was reused, its report is the report a
 * run without a ledger gives of the same bucket, and an object that changed since is read again.
 */
import { appendFileSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { open as openLmdb } from "lmdb";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PassThrough } from "node:stream";
import { HtmlWriter } from "../../src/report/HtmlWriter.js";
import { JsonWriter } from "../../src/report/JsonWriter.js";
import { NdjsonWriter } from "../../src/report/NdjsonWriter.js";
import { TextWriter } from "../../src/report/TextWriter.js";
import type { Report, ReportWriter } from "../../src/report/types.js";
import type { AlertDigest, Notifier } from "../../src/notify/types.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { LocalSource } from "../../src/sources/LocalSource.js";
import type { ObjectSource } from "../../src/sources/types.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { RECORDS_LINE } from "../../src/engine/unitBody.js";
import { ObsLedger } from "../../src/state/ObsLedger.js";
import type { Ledger } from "../../src/state/types.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { configFor, runLocal, tempDir, testKeys } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

const DAY = Date.UTC(2024, 6, 18);
const at = (hours: number, minutes = 0) => new Date(DAY + hours * 3_600_000 + minutes * 60_000);

/**
 * Two days of a tracker across midnight: IAM files with logins from inside and outside the allowlist, another
 * service's files, digests for both, and a file that is not a CTS file. Returns the directory and the keys.
 */
function bucket(): { dir: string; keys: string[] } {
  const b = new CtsBucket(testKeys().privateKey, "b");
  const keys: string[] = [];
  for (let i = 0; i < 12; i++) {
    const t = at(20 + i * 0.5, 7);
    keys.push(
      b.addTraceFile({
        uploadTime: t,
        traces: [
          makeTrace({ traceName: "login", sourceIp: i % 3 === 0 ? "192.0.2.7" : `203.0.113.${i}`, time: t }),
          makeTrace({ traceName: "createUser", sourceIp: "198.51.100.1", time: t }),
        ],
      }),
    );
    keys.push(
      b.addTraceFile({
        service: "ECS",
        uploadTime: t,
        traces: [
          makeTrace({ traceName: "createServer", sourceIp: "198.51.100.2", time: t, serviceType: "ECS" }),
        ],
      }),
    );
  }
  b.addDigests({ service: "IAM", from: at(20), to: at(27) });
  b.addDigests({ service: "ECS", from: at(20), to: at(27) });
  b.put("CloudTraces/README.txt", Buffer.from("not a trace"));
  const dir = tempDir();
  b.writeTo(dir);
  return { dir, keys };
}

/** What two runs of one bucket must share: everything but times and what was reused. */
const comparable = (r: Report) => ({
  ...r,
  startedAt: "",
  finishedAt: "",
  summary: { ...r.summary, reused: 0 },
});

type Change = (dir: string, keys: string[]) => void;
const iamFile = (keys: string[], n: number) => keys.filter((k) => k.includes("/IAM/"))[n]!;
const ecsFile = (keys: string[], n: number) => keys.filter((k) => k.includes("/ECS/"))[n]!;
const later = (file: string) => utimesSync(file, new Date(), new Date(Date.now() + 60_000));

describe("a rerun over the ledger", () => {
  it.each<{ name: string; change: Change; readAgain: number }>([
    { name: "nothing changed: every trace file reused", change: () => undefined, readAgain: 0 },
    {
      name: "an IAM file rewritten with another login: read again, its alert and verdict are the new ones",
      change: (dir, keys) => {
        const file = path.join(dir, iamFile(keys, 5));
        const traces = [makeTrace({ traceName: "login", sourceIp: "203.0.113.250", time: at(22, 40) })];
        writeFileSync(file, gzipSync(JSON.stringify(traces)));
        later(file);
      },
      readAgain: 1,
    },
    {
      name: "an IAM file grown by bytes after its gzip member: read again, it fails now",
      change: (dir, keys) => appendFileSync(path.join(dir, iamFile(keys, 2)), Buffer.from("tail")),
      readAgain: 1,
    },
    {
      name: "another service's file touched: hashed again",
      change: (dir, keys) => later(path.join(dir, ecsFile(keys, 7))),
      readAgain: 1,
    },
    {
      name: "an IAM file deleted: the others reused, its digest entry reported missing",
      change: (dir, keys) => rmSync(path.join(dir, iamFile(keys, 9))),
      readAgain: 0,
    },
  ])("$name; the report is a fresh run's", async ({ change, readAgain }) => {
    const { dir, keys } = bucket();
    const args = ["scan", dir, "--allow", "192.0.2.0/24", "--format", "json"];
    const ledgerFile = path.join(tempDir(), "ledger");
    const ledger = () => new LocalLedger(ledgerFile, { retentionMs: 365 * 86_400_000 });
    const first = await runLocal(args, { ledger: ledger() });
    expect(first.summary.reused).toBe(0);
    expect(first.summary.alerts).toBeGreaterThan(0);
    expect(comparable(first)).toEqual(comparable(await runLocal(args)));

    change(dir, keys);
    const fresh = await runLocal(args);
    const rerun = await runLocal(args, { ledger: ledger() });
    expect(comparable(rerun)).toEqual(comparable(fresh));
    // The same text too: what the ledger keeps of reused objects (records, alerts) comes back in key order.
    expect(JSON.stringify(comparable(rerun))).toBe(JSON.stringify(comparable(fresh)));
    expect(rerun.summary.reused).toBe(fresh.summary.traceFiles - readAgain);
    // And the ledger now holds the changed objects too: a third run reuses every trace file.
    const third = await runLocal(args, { ledger: ledger() });
    expect(comparable(third)).toEqual(comparable(fresh));
    // Failed objects are read again by every run (a missing file's record is no object of the listing).
    const failedNow = fresh.files.filter(
      (f) => f.kind === "trace" && f.status === "failed" && f.integrity !== "missing",
    ).length;
    expect(third.summary.reused).toBe(fresh.summary.traceFiles - failedNow);
    expect(readFileSync(path.join(dir, "CloudTraces/README.txt"), "utf8")).toBe("not a trace");
  });
});

/**
 * Four days of one region (20:00 on the first to 02:00 on the fourth), an IAM file every two hours with a login
 * from outside the allowlist and one from inside, hourly digests to `digestsTo` hours, and failed logins of one user
 * from one address across the first midnight (a brute force that only the windowed rules see, across two units).
 * `oldTrace`: one file of the second day also holds a login whose trace time is weeks before its upload.
 */
function days(
  options: {
    digestsTo?: number;
    lastFile?: number;
    oldTrace?: boolean;
    ecs?: boolean;
    unlisted?: boolean;
  } = {},
): {
  dir: string;
  keys: string[];
} {
  const b = new CtsBucket(testKeys().privateKey, "b");
  const keys: string[] = [];
  const lastFile = options.lastFile ?? 74;
  for (let h = 20; h <= lastFile; h += 2) {
    const t = at(h, 7);
    const traces = [
      makeTrace({ traceName: "login", sourceIp: `203.0.113.${h}`, time: t }),
      makeTrace({ traceName: "login", sourceIp: "192.0.2.9", user: "bob", time: t }),
    ];
    if (options.oldTrace && h === 36)
      traces.push(
        makeTrace({ traceName: "login", sourceIp: "198.51.100.77", time: new Date(DAY - 30 * 86_400_000) }),
      );
    keys.push(b.addTraceFile({ uploadTime: t, traces }));
    if (options.ecs)
      b.addTraceFile({
        service: "ECS",
        uploadTime: t,
        traces: [
          makeTrace({ traceName: "createServer", sourceIp: "198.51.100.2", time: t, serviceType: "ECS" }),
        ],
      });
  }
  for (const m of [52, 56]) {
    const t = at(23, m);
    keys.push(
      b.addTraceFile({
        uploadTime: t,
        traces: [makeTrace({ traceName: "loginFailed", sourceIp: "192.0.2.66", user: "mallory", time: t })],
      }),
    );
  }
  for (const m of [1, 5, 9]) {
    const t = at(24, m);
    keys.push(
      b.addTraceFile({
        uploadTime: t,
        traces: [makeTrace({ traceName: "loginFailed", sourceIp: "192.0.2.66", user: "mallory", time: t })],
      }),
    );
  }
  b.addDigests({ service: "IAM", from: at(20), to: at(options.digestsTo ?? 76) });
  if (options.ecs) b.addDigests({ service: "ECS", from: at(20), to: at(76) });
  // A file no digest lists (added after them): an integrity finding of the second day, every run.
  if (options.unlisted)
    keys.push(
      b.addTraceFile({
        uploadTime: at(40, 30),
        traces: [makeTrace({ traceName: "login", sourceIp: "203.0.113.99", time: at(40, 29) })],
      }),
    );
  const dir = tempDir();
  b.writeTo(dir);
  return { dir, keys };
}

/** The folder of a day of the bucket above (`day` 0 is 2024-07-18). */
const dayFolder = (day: number) => `/2024/07/${18 + day}/`;

/**
 * A source that notes every object the run reads (a unit replayed from the ledger reads none of its objects), and
 * fails reading the objects in `failing` (a connection that breaks every time).
 */
function noting(
  source: ObjectSource,
  reads: Set<string>,
  failing: ReadonlySet<string> = new Set(),
): ObjectSource {
  const note = (key: string) => {
    reads.add(key);
    if (failing.has(key)) throw new Error("connection reset by peer");
  };
  return {
    name: source.name,
    bucket: source.bucket,
    pages: () => source.pages(),
    open: async (key) => {
      note(key);
      return source.open(key);
    },
    ...(source.read
      ? {
          read: async (key: string, maxBytes: number) => {
            note(key);
            return source.read!(key, maxBytes);
          },
        }
      : {}),
    metadata: async (key) => {
      note(key);
      return source.metadata(key);
    },
  };
}

/** Runs like `runLocal`, noting the objects read. */
async function runNoting(
  args: string[],
  deps: {
    ledger?: Ledger;
    clock?: () => Date;
    shouldStop?: () => string | undefined;
    report?: ReportWriter;
    notifier?: Notifier;
  } = {},
  failing?: ReadonlySet<string>,
): Promise<{ report: Report; reads: Set<string> }> {
  const reads = new Set<string>();
  const config = configFor(args);
  const sources = await Promise.all(
    config.sources.map(async (s) => noting(await LocalSource.open(s), reads, failing)),
  );
  const report = await runLocal(args, { ...deps, sources });
  return { report, reads };
}

/** The report as JSON text, but for times and what was reused: a replayed unit's must be byte-identical. */
const text = (r: Report) => JSON.stringify(comparable(r));
const readsOfDay = (reads: Set<string>, day: number) => [...reads].filter((k) => k.includes(dayFolder(day)));

describe("unit replay: a rerun replays units listed as when an earlier run settled them", () => {
  const args = (dir: string, ...more: string[]) => [
    "scan",
    dir,
    "--allow",
    "192.0.2.0/24",
    "--format",
    "json",
    ...more,
  ];
  const localLedger = () => {
    const file = path.join(tempDir(), "ledger");
    // Runs below take a clock in 2024: what they record must outlive the ledger's own (real) clock's retention.
    return () => new LocalLedger(file, { retentionMs: 10 * 365 * 86_400_000 });
  };

  it("nothing changed: no object is read, the report is a fresh run's byte for byte, windowed alerts included", async () => {
    const { dir } = days();
    const ledger = localLedger();
    await runLocal(args(dir), { ledger: ledger() });
    const fresh = await runLocal(args(dir));
    const { report, reads } = await runNoting(args(dir), { ledger: ledger() });
    expect([...reads]).toEqual([]);
    expect(text(report)).toBe(text(fresh));
    expect(report.summary.reused).toBe(fresh.summary.traceFiles);
    // The brute force across the first midnight needs the attempts of both replayed units.
    expect(fresh.alerts.filter((a) => a.rule === "brute-force")).toHaveLength(1);
  });

  it.each([
    ["the ledger's attempt store lost them: they come from the objects' outcomes", false, 0],
    ["the attempt store and the objects' outcomes lost them: the unit is read again", true, 1],
  ])("a replayed unit's login attempts, when %s", async (_name, dropOutcomes, readDays) => {
    const { dir } = days();
    const file = path.join(tempDir(), "ledger");
    const ledger = () => new LocalLedger(file, { retentionMs: 10 * 365 * 86_400_000 });
    await runLocal(args(dir), { ledger: ledger() });
    // What a retention sweep or a lost write leaves: nothing of the attempts, maybe nothing of the outcomes.
    const env = openLmdb({ path: file, noSubdir: true, maxDbs: 16 });
    const attempts = env.openDB({ name: "attempts" });
    const batches = env.openDB({ name: "object-batches" });
    await attempts.clearAsync();
    if (dropOutcomes)
      for (const key of batches.getKeys({}))
        if (String((key as unknown[])[0]).endsWith("/2024-07-19")) await batches.remove(key);
    await env.close();
    const fresh = await runLocal(args(dir));
    const { report, reads } = await runNoting(args(dir), { ledger: ledger() });
    expect(text(report)).toBe(text(fresh));
    expect(fresh.alerts.filter((a) => a.rule === "brute-force")).toHaveLength(1);
    const read = [0, 1, 2].filter((d) => readsOfDay(reads, d).some((k) => k.includes("/IAM/")));
    expect(read).toEqual(readDays === 0 ? [] : [1]);
  });

  it.each<{ name: string; change: Change }>([
    {
      name: "a file of the second day rewritten",
      change: (dir, keys) => {
        const file = path.join(
          dir,
          keys.find((k) => k.includes(dayFolder(1)))!,
        );
        writeFileSync(
          file,
          gzipSync(
            JSON.stringify([makeTrace({ traceName: "login", sourceIp: "203.0.113.250", time: at(30) })]),
          ),
        );
        later(file);
      },
    },
    {
      name: "a file of the second day deleted",
      change: (dir, keys) => rmSync(path.join(dir, keys.filter((k) => k.includes(dayFolder(1)))[3]!)),
    },
    {
      name: "a file added to the second day",
      change: (dir) => {
        const extra = new CtsBucket(testKeys().privateKey, "b");
        const key = extra.addTraceFile({
          uploadTime: at(33, 30),
          traces: [makeTrace({ traceName: "login", sourceIp: "203.0.113.251", time: at(33, 30) })],
        });
        extra.writeTo(dir);
        expect(key).toContain(dayFolder(1));
      },
    },
  ])("$name: the days before are replayed, it and the days after are read again", async ({ change }) => {
    const { dir, keys } = days();
    const ledger = localLedger();
    await runLocal(args(dir), { ledger: ledger() });
    change(dir, keys);
    const fresh = await runLocal(args(dir));
    const { report, reads } = await runNoting(args(dir), { ledger: ledger() });
    expect(text(report)).toBe(text(fresh));
    expect(readsOfDay(reads, 0)).toEqual([]);
    expect(readsOfDay(reads, 1).length).toBeGreaterThan(0);
    // The day after the changed one carries its chains: its digests are read again, not replayed.
    expect(readsOfDay(reads, 2).some((k) => k.includes("/Digest/"))).toBe(true);
    // And the run stored them again: the next rerun replays everything.
    const third = await runNoting(args(dir), { ledger: ledger() });
    expect([...third.reads]).toEqual([]);
    expect(text(third.report)).toBe(text(fresh));
  });

  describe("a replayed unit's records are written as a fresh run writes them, in every format", () => {
    const writers: Record<string, (out: PassThrough) => ReportWriter> = {
      json: (out) => new JsonWriter(out),
      ndjson: (out) => new NdjsonWriter(out),
      text: (out) => new TextWriter(out),
      html: (out) => new HtmlWriter(out),
    };
    /** The report as written, with what differs between two runs of the same listing made equal. */
    const written = async (run: (writer: ReportWriter) => Promise<unknown>, format: string) => {
      const out = new PassThrough();
      const chunks: Buffer[] = [];
      out.on("data", (c: Buffer) => chunks.push(c));
      await run(writers[format]!(out));
      const year = new Date().getUTCFullYear();
      return Buffer.concat(chunks)
        .toString("utf8")
        .replace(new RegExp(`${year}-\\d\\d-\\d\\dT[\\d:.]+Z`, "g"), "<now>")
        .replace(/"reused": ?\d+/g, '"reused":0')
        .replace(/<b>\d+<\/b>reused/g, "<b>0</b>reused")
        .replace(/\d+ reused/g, "0 reused");
    };

    it.each(
      ["json", "ndjson", "text", "html"].flatMap((format) => [
        { format, window: "none", more: [] as string[] },
        // Cuts the second day's times: its files' counts are taken again (its records parsed).
        { format, window: "cutting the second day", more: ["--since", at(40).toISOString()] },
      ]),
    )(
      "$format, window $window: the same report, nothing read, findings counted",
      async ({ format, more }) => {
        const { dir } = days({ unlisted: true });
        const ledger = localLedger();
        await runLocal(args(dir, ...more), { ledger: ledger() });
        const fresh = await written((report) => runLocal(args(dir, ...more), { report }), format);
        let reads = new Set<string>();
        const rerun = await written(async (report) => {
          ({ reads } = await runNoting(args(dir, ...more), { ledger: ledger(), report }));
        }, format);
        expect([...reads]).toEqual([]);
        expect(rerun).toBe(fresh);
        if (format === "json") {
          const report = JSON.parse(rerun) as Report;
          expect(report.files.filter((f) => f.integrity === "unlisted")).toHaveLength(1);
          expect(report.summary.integrityViolations).toBeGreaterThan(0);
        }
      },
    );
    it("a replayed unit's integrity finding reaches the digest as a fresh run's does", async () => {
      const { dir, keys } = days({ unlisted: true });
      const unlisted = keys.at(-1)!;
      const ledger = localLedger();
      const recording = () => {
        const sent: AlertDigest[] = [];
        const notifier: Notifier = {
          sink: "stdout",
          send: async (digest) => {
            sent.push(digest);
            return { sink: "stdout", parts: digest.parts.length, messageIds: [] };
          },
        };
        return { sent, notifier };
      };
      await runLocal(args(dir), { ledger: ledger() });
      const fresh = recording();
      await written((report) => runLocal(args(dir), { report, notifier: fresh.notifier }), "json");
      const rerun = recording();
      let reads = new Set<string>();
      await written(async (report) => {
        ({ reads } = await runNoting(args(dir), { ledger: ledger(), report, notifier: rerun.notifier }));
      }, "json");
      expect([...reads]).toEqual([]);
      const violations = (d: AlertDigest[]) => d.map((x) => x.violations);
      expect(violations(rerun.sent)).toEqual(violations(fresh.sent));
      expect(violations(rerun.sent)[0]).toBeGreaterThan(0);
      expect(rerun.sent.map((d) => d.parts.join("")).join("")).toContain(unlisted.split("/").at(-1)!);
    });

    it.each(["json", "ndjson"])(
      "%s, units stored under a window that cut a trace's time, rerun without one: replayed, counted again",
      async (format) => {
        const { dir } = days({ oldTrace: true });
        const ledger = localLedger();
        // The window holds every upload (its units are stored as any run's) but not the weeks-old trace.
        const july = ["--since", "2024-07-01T00:00:00Z", "--until", "2024-08-01T00:00:00Z"];
        const windowed = await runLocal(args(dir, ...july), { ledger: ledger() });
        expect(windowed.alerts.some((a) => a.sourceIp === "198.51.100.77")).toBe(false);
        const fresh = await written((report) => runLocal(args(dir), { report }), format);
        let reads = new Set<string>();
        const rerun = await written(async (report) => {
          ({ reads } = await runNoting(args(dir), { ledger: ledger(), report }));
        }, format);
        expect([...reads]).toEqual([]);
        expect(rerun).toBe(fresh);
        expect(rerun).toContain("198.51.100.77");
      },
    );

    it.each([
      { name: "not one object a line, written as text", damage: () => "damaged", format: "json" },
      {
        name: "no JSON, given parsed to the writer",
        damage: (line: string) => `{${line.slice(3)}`,
        format: "",
      },
    ])("a replay record damaged ($name): its unit is read again", async ({ damage, format }) => {
      const { dir } = days();
      const ledger = localLedger();
      await runLocal(args(dir), { ledger: ledger() });
      const id = "CloudTraces/ap-southeast-1/2024-07-19";
      const l = ledger();
      await l.open({ holder: { run: "t", pid: 0, host: "t", startedAt: "", command: "t" } });
      const stored = (await l.getUnit(id))!;
      const lines = stored.body.split("\n");
      lines[RECORDS_LINE + 1] = damage(lines[RECORDS_LINE + 1]!);
      await l.putUnit(id, { ...stored, body: lines.join("\n") });
      await l.close();
      let reads = new Set<string>();
      if (format) {
        const fresh = await written((report) => runLocal(args(dir), { report }), format);
        const rerun = await written(async (report) => {
          ({ reads } = await runNoting(args(dir), { ledger: ledger(), report }));
        }, format);
        expect(rerun).toBe(fresh);
      } else {
        const fresh = await runLocal(args(dir));
        let report: Report;
        ({ report, reads } = await runNoting(args(dir), { ledger: ledger() }));
        expect(text(report)).toBe(text(fresh));
      }
      expect(readsOfDay(reads, 1).length).toBeGreaterThan(0);
      expect(readsOfDay(reads, 0)).toEqual([]);
    });
  });

  it("a unit whose verdicts were pending is not replayed: a later run judges it again with its own clock", async () => {
    // Digests stop at 70:00; files go on to 74:07, and the run's now is 74:30: the last one's is not due yet.
    const { dir } = days({ digestsTo: 70 });
    const ledger = localLedger();
    const early = () => at(74, 30);
    const first = await runLocal(args(dir), { ledger: ledger(), clock: early });
    expect(first.files.some((f) => f.integrity === "pending")).toBe(true);
    const same = await runNoting(args(dir), { ledger: ledger(), clock: early });
    expect(text(same.report)).toBe(text(await runLocal(args(dir), { clock: early })));
    // Only the file of 74:07 is pending (the one of 72:07 was due at 73:15): its unit, the last day, has no replay
    // record (it has no digest to read again: its files are reused object by object).
    for (const day of [0, 1, 2]) expect(readsOfDay(same.reads, day)).toEqual([]);
    const stored = ledger();
    await stored.open({
      holder: { run: "t", pid: 0, host: "t", startedAt: "", command: "t" },
      readOnly: true,
    });
    expect(await stored.getUnit("CloudTraces/ap-southeast-1/2024-07-20")).toBeDefined();
    expect(await stored.getUnit("CloudTraces/ap-southeast-1/2024-07-21")).toBeUndefined();
    await stored.close();
    // A day later those files are overdue (unlisted): the stored units must not say pending.
    const late = () => at(100);
    const later = await runNoting(args(dir), { ledger: ledger(), clock: late });
    const fresh = await runLocal(args(dir), { clock: late });
    expect(fresh.files.some((f) => f.integrity === "pending")).toBe(false);
    expect(text(later.report)).toBe(text(fresh));
  });

  it("a unit judged before its digests were due is not replayed, whatever the verdict said (unverified here)", async () => {
    // IAM digests stop after the first day while the ECS chain's go on: an IAM file of the last day with no digest
    // is unverified until its digest is due, then unlisted (its chain stopped).
    const { dir } = days({ digestsTo: 46, ecs: true });
    const ledger = localLedger();
    const first = await runLocal(args(dir), { ledger: ledger(), clock: () => at(74, 30) });
    const last = (r: Report) =>
      r.files.find((f) => f.object.includes("/IAM/") && f.object.includes("2024-07-21T02-07-00Z"))!;
    expect(last(first).integrity).toBe("unverified");
    const late = () => at(100);
    const fresh = await runLocal(args(dir), { clock: late });
    expect(last(fresh).integrity).toBe("unlisted");
    const later = await runLocal(args(dir), { ledger: ledger(), clock: late });
    expect(text(later)).toBe(text(fresh));
  });

  it.each<{ name: string; window: string[]; replayed: boolean }>([
    {
      name: "a window holding every upload: replayed, and it still applies to trace times",
      window: ["--since", "2024-07-01T00:00:00Z", "--until", "2024-08-01T00:00:00Z"],
      replayed: true,
    },
    {
      name: "a window cutting the second day: read where it matters, the report is a fresh run's",
      window: ["--since", "2024-07-19T12:00:00Z", "--until", "2024-07-20T12:00:00Z"],
      replayed: false,
    },
  ])("a rerun with another window ($name)", async ({ window, replayed }) => {
    const { dir } = days({ oldTrace: true });
    const ledger = localLedger();
    const unwindowed = await runLocal(args(dir), { ledger: ledger() });
    expect(unwindowed.alerts.some((a) => a.sourceIp === "198.51.100.77")).toBe(true);
    const fresh = await runLocal(args(dir, ...window));
    expect(fresh.alerts.some((a) => a.sourceIp === "198.51.100.77")).toBe(false);
    const { report, reads } = await runNoting(args(dir, ...window), { ledger: ledger() });
    expect(text(report)).toBe(text(fresh));
    if (replayed) expect([...reads]).toEqual([]);
    else expect(reads.size).toBeGreaterThan(0);
    // Back to no window: the units stored by the first run (or again since) replay as that run's report.
    const back = await runNoting(args(dir), { ledger: ledger() });
    expect(text(back.report)).toBe(text(await runLocal(args(dir))));
  });

  it("a digest that could not be read: its unit and the two after it are not stored, the next run reads them", async () => {
    const { dir } = days();
    const ledger = localLedger();
    const digest = [...(await runNoting(args(dir))).reads].find(
      (k) => k.includes("/Digest/") && k.includes("2024-07-19T23-00-00Z"),
    )!;
    const broken = await runNoting(args(dir), { ledger: ledger() }, new Set([digest]));
    expect(broken.report.summary.failed).toBe(1);
    const again = await runNoting(args(dir), { ledger: ledger() });
    expect(text(again.report)).toBe(text(await runLocal(args(dir))));
    expect(readsOfDay(again.reads, 0)).toEqual([]);
    for (const day of [1, 2, 3]) expect(readsOfDay(again.reads, day).length).toBeGreaterThan(0);
  });

  it("after a stop signal nothing is replayed: objects are reported not started, as without replay", async () => {
    const { dir } = days();
    const ledger = localLedger();
    await runLocal(args(dir), { ledger: ledger() });
    const stopped = await runLocal(args(dir), { ledger: ledger(), shouldStop: () => "interrupted (SIGINT)" });
    const traces = stopped.files.filter((f) => f.kind === "trace" && f.integrity !== "missing");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces.every((f) => f.status === "skipped" && f.reason?.startsWith("not started"))).toBe(true);
    expect(stopped.summary.reused).toBe(0);
    // And what the stopped run saw stored nothing over the earlier records: the next run replays them.
    const next = await runNoting(args(dir), { ledger: ledger() });
    expect([...next.reads]).toEqual([]);
  });

  it("--dry-run reads replay records but writes none", async () => {
    const { dir } = days();
    const ledger = localLedger();
    await runLocal(args(dir, "--dry-run"), { ledger: ledger() });
    const after = await runNoting(args(dir), { ledger: ledger() });
    expect(after.reads.size).toBeGreaterThan(0);
    for (const day of [0, 1, 2, 3]) expect(readsOfDay(after.reads, day).length).toBeGreaterThan(0);
    // A dry run after a real one replays (reading is not writing).
    const dry = await runNoting(args(dir, "--dry-run"), { ledger: ledger() });
    expect([...dry.reads]).toEqual([]);
  });

  describe("over an OBS ledger (s3rver)", () => {
    let s3: S3TestServer;
    beforeAll(async () => {
      s3 = await S3TestServer.start(["ledger"]);
    }, 60_000);
    afterAll(() => s3.stop());

    it("replays every unit, one marker each, and a changed unit and those after it are read again", async () => {
      const { dir, keys } = days();
      const prefix = `state/${randomUUID()}`;
      const ledger = () =>
        new ObsLedger(
          new ObsBucket("ledger", { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 }),
          prefix,
        );
      await runLocal(args(dir), { ledger: ledger() });
      const markers = await new ObsBucket("ledger", {
        endpoint: s3.endpoint,
        ...S3_CREDENTIALS,
        timeoutSeconds: 5,
      }).listAll(`${prefix}/units/`);
      expect(markers).toHaveLength(4);
      const again = await runNoting(args(dir), { ledger: ledger() });
      expect([...again.reads]).toEqual([]);
      expect(text(again.report)).toBe(text(await runLocal(args(dir))));

      rmSync(path.join(dir, keys.filter((k) => k.includes(dayFolder(2)))[2]!));
      const changed = await runNoting(args(dir), { ledger: ledger() });
      expect(text(changed.report)).toBe(text(await runLocal(args(dir))));
      expect(readsOfDay(changed.reads, 1)).toEqual([]);
      expect(readsOfDay(changed.reads, 2).length).toBeGreaterThan(0);
    });
  });
});
