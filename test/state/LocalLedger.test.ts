import { spawn, type ChildProcess } from "node:child_process";
import {
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  truncateSync,
  writeFileSync,
  mkdirSync,
} from "node:fs";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { hostname } from "node:os";
import { open as openLmdb } from "lmdb";
import { describe, expect, it } from "vitest";
import { CtsAuditError, LedgerBusyError, LedgerUnreadableError } from "../../src/errors.js";
import { alertKey } from "../../src/state/alertKey.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import type { ObjectOutcome } from "../../src/state/types.js";
import { tempDir } from "../support/harness.js";
import { alertFor, holderFor, outcomeFor } from "./ledgerFixtures.js";

const DAY = 86_400_000;
const here = path.dirname(fileURLToPath(import.meta.url));

async function opened(file: string, run = "run-1", options: { retentionMs?: number; now?: string } = {}) {
  const clock = () => new Date(options.now ?? "2026-11-02T00:00:00.000Z");
  const ledger = new LocalLedger(file, { retentionMs: options.retentionMs ?? 30 * DAY, clock });
  await ledger.open({ holder: holderFor(run), lockWaitMs: 200 });
  return ledger;
}

function ledgerFile(): string {
  return path.join(tempDir(), "ledger.json");
}

describe("LocalLedger: the port", () => {
  it.each([
    { name: "same key and fingerprint", stored: {}, ask: { fingerprint: '"etag-u/a"' }, found: true },
    { name: "fingerprint changed", stored: {}, ask: { fingerprint: '"etag-other"' }, found: false },
    { name: "other unit", stored: {}, ask: { fingerprint: '"etag-u/a"', unit: "v" }, found: false },
    // The ledger stores what it is given: rules are the engine's business.
    {
      name: "other rules stored",
      stored: { rules: "rules-2" },
      ask: { fingerprint: '"etag-u/a"' },
      found: true,
    },
  ])("getObjects: $name", async ({ stored, ask, found }) => {
    const file = ledgerFile();
    const ledger = await opened(file);
    const outcome = outcomeFor("u/a", stored);
    await ledger.putObjects("u", [["u/a", outcome]]);
    const got = await ledger.getObjects(ask.unit ?? "u", [{ key: "u/a", fingerprint: ask.fingerprint }]);
    expect(got.has("u/a")).toBe(found);
    if (found) expect(got.get("u/a")).toEqual(outcome);
    await ledger.close();
  });

  it("keeps a unit's objects across reopening, and an object written again replaces the old one", async () => {
    const file = ledgerFile();
    const first = await opened(file);
    await first.putObjects("u", [
      ["u/a", outcomeFor("u/a")],
      ["u/b", outcomeFor("u/b")],
    ]);
    await first.putObjects("u", [["u/a", outcomeFor("u/a", { fingerprint: '"new"', rules: "rules-2" })]]);
    await first.close();
    const second = await opened(file, "run-2");
    const got = await second.getObjects("u", [
      { key: "u/a", fingerprint: '"new"' },
      { key: "u/b", fingerprint: '"etag-u/b"' },
      { key: "u/c", fingerprint: '"etag-u/c"' },
    ]);
    expect([...got.keys()].sort()).toEqual(["u/a", "u/b"]);
    expect(got.get("u/a")?.rules).toBe("rules-2");
    await second.close();
  });

  it("looks up a large unit in one pass and finds every key, one beyond U+FFFF and a neighbour unit's prefix included", async () => {
    const file = ledgerFile();
    const ledger = await opened(file);
    const keys = Array.from({ length: 150 }, (_, i) => `u/k${i}`);
    keys.push("u/\u{1F600}-astral", "u/\uffff-edge", "u/", "\uffff\uffff", "\u{1F600}");
    await ledger.putObjects(
      "u",
      keys.map((k) => [k, outcomeFor(k)] as const),
    );
    // A unit whose id starts with this one's: its entries are not this unit's.
    await ledger.putObjects("u2", [["u/k0-other", outcomeFor("u/k0-other")]]);
    const got = await ledger.getObjects("u", [
      ...keys.map((k) => ({ key: k, fingerprint: outcomeFor(k).fingerprint })),
      { key: "u/k0-other", fingerprint: outcomeFor("u/k0-other").fingerprint },
    ]);
    expect([...got.keys()].sort()).toEqual([...keys].sort());
    await ledger.close();
  });

  it.each(["ledger.json", "ledger", "state.db"])(
    "the ledger is the file named (%s), with only LMDB's lock file beside it",
    async (name) => {
      const dir = tempDir();
      const file = path.join(dir, name);
      const ledger = await opened(file);
      await ledger.putObjects("u", [["u/a", outcomeFor("u/a")]]);
      await ledger.close();
      expect(statSync(file).isFile()).toBe(true);
      expect(readdirSync(dir).sort()).toEqual([name, `${name}-lock`].sort());
    },
  );

  it("after close the process exits by itself (no handle left open)", async () => {
    const file = ledgerFile();
    const child = startChild(["once", file]);
    await child.line((l) => l === "closed");
    const code = await new Promise<number | null>((resolve) => {
      if (child.proc.exitCode !== null) resolve(child.proc.exitCode);
      else child.proc.once("exit", (c) => resolve(c));
    });
    expect(code).toBe(0);
  });

  it("records sent keys per sink: sent to stdout is not sent to smn", async () => {
    const file = ledgerFile();
    const ledger = await opened(file);
    await ledger.markSent("stdout", ["k1", "k2"], "m-1");
    await ledger.markSent("smn", ["k2"], "m-2");
    await ledger.close();
    const again = await opened(file, "run-2");
    const cases: Array<[string, string[]]> = [
      ["stdout", ["k1", "k2"]],
      ["smn", ["k2"]],
      ["file:/tmp/x", []],
    ];
    for (const [sink, expected] of cases)
      expect([...(await again.sent(sink, ["k1", "k2", "k3"]))].sort(), sink).toEqual(expected);
    await again.close();
  });

  it("adds and removes pending alerts per sink; two ledgers in sequence never clobber each other's", async () => {
    const file = ledgerFile();
    const a = await opened(file, "run-a");
    await a.addPending("smn", [alertFor("t1"), alertFor("t2")]);
    await a.addPending("stdout", [alertFor("t9")]);
    await a.close();
    const b = await opened(file, "run-b");
    await b.addPending("smn", [alertFor("t3")]);
    await b.removePending("smn", [alertKey(alertFor("t1"))]);
    await b.close();
    const c = await opened(file, "run-c");
    expect((await c.pending("smn")).map((x) => x.traceId).sort()).toEqual(["t2", "t3"]);
    expect((await c.pending("stdout")).map((x) => x.traceId)).toEqual(["t9"]);
    expect(await c.pending("smn2")).toEqual([]);
    await c.close();
  });

  const huge = `u/${"x".repeat(4000)}`;
  it.each([
    { name: "putObjects", act: (l: LocalLedger) => l.putObjects("u", [[huge, outcomeFor(huge)]]) },
    { name: "markSent", act: (l: LocalLedger) => l.markSent("smn", [huge], "m") },
    { name: "addPending", act: (l: LocalLedger) => l.addPending(`s${"x".repeat(4000)}`, [alertFor("t")]) },
  ])("$name with a key the database cannot hold: a STATE error naming the ledger", async ({ act }) => {
    const file = ledgerFile();
    const ledger = await opened(file);
    const err = await act(ledger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CtsAuditError);
    expect((err as CtsAuditError).code).toBe("STATE");
    expect((err as Error).message).toContain(file);
    // Such a key cannot have been stored: looking it up finds nothing.
    expect((await ledger.getObjects("u", [{ key: huge, fingerprint: "f" }])).size).toBe(0);
    expect((await ledger.sent("smn", [huge])).size).toBe(0);
    await ledger.close();
  });

  it("close is safe twice, and a closed or read-only ledger refuses writes with a STATE error", async () => {
    const file = ledgerFile();
    const ledger = await opened(file);
    await ledger.close();
    await ledger.close();
    await expect(ledger.putObjects("u", [])).rejects.toMatchObject({ code: "STATE" });
    const ro = new LocalLedger(file, { retentionMs: DAY });
    await ro.open({ holder: holderFor("dry"), readOnly: true });
    await expect(ro.markSent("smn", ["k"], "m")).rejects.toBeInstanceOf(CtsAuditError);
    await ro.close();
  });
});

describe("LocalLedger: read only (a dry run)", () => {
  it("reads a missing ledger as empty and creates nothing", async () => {
    const dir = tempDir();
    const file = path.join(dir, "ledger.json");
    const ro = new LocalLedger(file, { retentionMs: DAY });
    await ro.open({ holder: holderFor("dry"), readOnly: true });
    expect((await ro.getObjects("u", [{ key: "a", fingerprint: "x" }])).size).toBe(0);
    expect((await ro.sent("smn", ["k"])).size).toBe(0);
    expect(await ro.pending("smn")).toEqual([]);
    await ro.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it("reads an existing ledger without taking the lock while another run holds it", async () => {
    const file = ledgerFile();
    const writer = await opened(file, "writer");
    await writer.putObjects("u", [["u/a", outcomeFor("u/a")]]);
    const ro = new LocalLedger(file, { retentionMs: DAY });
    await ro.open({ holder: holderFor("dry"), readOnly: true, lockWaitMs: 0 });
    expect((await ro.getObjects("u", [{ key: "u/a", fingerprint: '"etag-u/a"' }])).size).toBe(1);
    await ro.close();
    await writer.close();
  });
});

describe("LocalLedger: one writer at a time", () => {
  it("a second open in this process waits, then names the holder", async () => {
    const file = ledgerFile();
    const first = await opened(file, "run-first");
    const second = new LocalLedger(file, { retentionMs: DAY });
    const err = await second
      .open({ holder: holderFor("run-second"), lockWaitMs: 150 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerBusyError);
    expect((err as LedgerBusyError).code).toBe("STATE_BUSY");
    expect((err as Error).message).toMatch(
      /run run-first \(pid \d+ on test-host, since 2026-11-30T00:00:00.000Z: test run-first\)/,
    );
    await first.close();
    // Released: the next run gets it.
    const third = await opened(file, "run-third");
    await third.close();
  });

  const deadPid = async () => {
    const p = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
    await new Promise((r) => p.once("exit", r));
    return p.pid!;
  };
  const startOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]!;
  const boot = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  it.each([
    {
      name: "a live process on another host",
      taken: false,
      holder: () => ({ host: "elsewhere", pid: process.ppid }),
    },
    { name: "a dead process on this host", taken: true, holder: async () => ({ pid: await deadPid() }) },
    {
      name: "a live process on this host, the same one",
      taken: false,
      holder: () => ({ pid: process.ppid, boot: boot(), procStart: startOf(process.ppid) }),
    },
    {
      name: "a reused pid on this host (started later than the holder)",
      taken: true,
      holder: () => ({ pid: process.ppid, boot: boot(), procStart: "1" }),
    },
    {
      name: "a holder from before this host rebooted",
      taken: true,
      holder: () => ({ pid: process.ppid, boot: "another-boot", procStart: startOf(process.ppid) }),
    },
  ])("a lock held by $name is taken over: $taken", async ({ holder, taken }) => {
    const file = ledgerFile();
    await (await opened(file, "setup")).close();
    const env = openLmdb({ path: file, noSubdir: true, maxDbs: 12 });
    const meta = env.openDB({ name: "meta" });
    await meta.put("holder", {
      run: "old-run",
      host: hostname(),
      startedAt: "2026-11-29T00:00:00.000Z",
      command: "scan ./archive",
      ...(await holder()),
    });
    await env.close();
    const ledger = new LocalLedger(file, { retentionMs: DAY });
    const result = await ledger
      .open({ holder: holderFor("new-run"), lockWaitMs: 150 })
      .catch((e: unknown) => e);
    if (taken) {
      expect(result).toBeUndefined();
      await ledger.close();
    } else {
      expect(result).toBeInstanceOf(LedgerBusyError);
      expect((result as Error).message).toContain("run old-run (pid");
    }
  });

  it("another process holding the lock: the open waits, then throws naming the child's pid", async () => {
    const file = ledgerFile();
    const child = startChild(["hold", file]);
    try {
      await child.line((l) => l === "locked");
      const ledger = new LocalLedger(file, { retentionMs: DAY });
      const err = await ledger
        .open({ holder: holderFor("parent"), lockWaitMs: 300 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LedgerBusyError);
      expect((err as Error).message).toContain(`run child-${child.proc.pid} (pid ${child.proc.pid} on`);
      expect((err as Error).message).toContain("ledger child hold");
    } finally {
      await child.kill("SIGKILL");
    }
    // The child died holding it (kill -9): its lock is stale and taken over at once.
    const after = await opened(file, "after");
    await after.close();
  });

  it("kill -9 while writing units: every unit whose putObjects returned is there, and the lock is taken over", async () => {
    const file = ledgerFile();
    const perUnit = 200;
    const child = startChild(["write", file, String(perUnit)]);
    let done = -1;
    try {
      await child.line((l) => {
        const m = /^unit (\d+)$/.exec(l);
        if (m) done = Number(m[1]);
        return done >= 5;
      });
    } finally {
      await child.kill("SIGKILL");
    }
    done = Math.max(done, child.lastUnit());
    const ledger = await opened(file, "after-kill");
    for (let u = 0; u <= done; u++) {
      const items = Array.from({ length: perUnit }, (_, i) => ({
        key: `u${u}/k${i}`,
        fingerprint: `"etag-u${u}/k${i}"`,
      }));
      expect((await ledger.getObjects(`u${u}`, items)).size, `unit u${u}`).toBe(perUnit);
    }
    // A unit is all or nothing: the one the kill interrupted has none or all of its objects.
    const next = Array.from({ length: perUnit }, (_, i) => ({
      key: `u${done + 1}/k${i}`,
      fingerprint: `"etag-u${done + 1}/k${i}"`,
    }));
    expect([0, perUnit]).toContain((await ledger.getObjects(`u${done + 1}`, next)).size);
    await ledger.close();
  });

  it("kill -9 while writing batches of one unit: every batch whose putObjects returned is there, none in part", async () => {
    const file = ledgerFile();
    const perBatch = 50;
    const child = startChild(["batches", file, String(perBatch)]);
    let done = -1;
    try {
      await child.line((l) => {
        const m = /^batch (\d+)$/.exec(l);
        if (m) done = Number(m[1]);
        return done >= 20;
      });
    } finally {
      await child.kill("SIGKILL");
    }
    const ledger = await opened(file, "after-kill");
    const batch = (b: number) =>
      Array.from({ length: perBatch }, (_, i) => ({
        key: `u/b${b}-k${i}`,
        fingerprint: `"etag-u/b${b}-k${i}"`,
      }));
    // Every batch reported (and any after it that committed before the kill), whole; then none.
    let b = 0;
    for (; ; b++) {
      const size = (await ledger.getObjects("u", batch(b))).size;
      expect([0, perBatch], `batch ${b}`).toContain(size);
      if (size === 0) break;
    }
    expect(b).toBeGreaterThan(done);
    expect((await ledger.getObjects("u", batch(b + 1))).size).toBe(0);
    // The unit goes on after the kill: a batch written now is found, and so is everything before it.
    await ledger.putObjects("u", [["u/after", outcomeFor("u/after")]]);
    const all = Array.from({ length: b }, (_, i) => batch(i)).flat();
    expect(
      (await ledger.getObjects("u", [...all, { key: "u/after", fingerprint: '"etag-u/after"' }])).size,
    ).toBe(all.length + 1);
    await ledger.close();
  });
});

describe("LocalLedger: opened while another process writes", () => {
  // The file grows under a writer: a check that compares the size it read before the newest meta page with the
  // last page that meta names calls a whole ledger truncated (two runs at once on one ledger once saw exit 1).
  it("never calls a growing ledger truncated or unreadable", async () => {
    const file = ledgerFile();
    const child = startChild(["write", file, "400"]);
    const problems: string[] = [];
    try {
      await child.line((l) => l === "unit 0");
      const until = Date.now() + 3_000;
      let opens = 0;
      while (Date.now() < until || opens < 50) {
        const ro = new LocalLedger(file, { retentionMs: DAY });
        try {
          await ro.open({ holder: holderFor(`reader-${opens}`), readOnly: true, lockWaitMs: 0 });
        } catch (err) {
          problems.push((err as Error).message);
        } finally {
          await ro.close();
        }
        opens++;
      }
      expect(child.lastUnit()).toBeGreaterThan(2);
    } finally {
      await child.kill("SIGKILL");
    }
    expect(problems).toEqual([]);
  });

  it("opens a ledger that read as no cts-audit ledger at first and whole a moment later", async () => {
    // What a read-only LMDB open racing another process's commit looked like in CI: a named database missed, the
    // whole ledger called foreign. Here the path holds a database without a format record, then the real one.
    const file = ledgerFile();
    const real = `${file}.real`;
    const writer = await opened(real, "writer");
    await writer.putObjects("u", [["u/a", outcomeFor("u/a")]]);
    await writer.close();
    const foreign = openLmdb({ path: file, noSubdir: true, maxDbs: 4 });
    await foreign.openDB({ name: "meta" }).put("other", 1);
    await foreign.close();
    const swap = new Promise<void>((resolve) =>
      setTimeout(() => {
        renameSync(real, file);
        resolve();
      }, 20),
    );
    const ro = new LocalLedger(file, { retentionMs: DAY });
    await ro.open({ holder: holderFor("dry"), readOnly: true, lockWaitMs: 0 });
    await swap;
    expect((await ro.getObjects("u", [{ key: "u/a", fingerprint: '"etag-u/a"' }])).size).toBe(1);
    await ro.close();
  });
});

describe("LocalLedger: a ledger that cannot be read", () => {
  const cases: Array<{ name: string; make: (file: string) => Promise<void> | void }> = [
    { name: "text that is not a ledger", make: (f) => writeFileSync(f, "hello, not a ledger\n") },
    { name: "an empty file", make: (f) => writeFileSync(f, "") },
    { name: "truncated JSON", make: (f) => writeFileSync(f, '{"version":1,"objects":{"a":') },
    { name: "JSON of another shape", make: (f) => writeFileSync(f, '{"hello":"world"}') },
    {
      name: "an old JSON ledger without alerted",
      make: (f) => writeFileSync(f, JSON.stringify({ version: 1, objects: {}, pending: [] })),
    },
    {
      name: "an old JSON ledger without pending",
      make: (f) => writeFileSync(f, JSON.stringify({ version: 1, objects: {}, alerted: {} })),
    },
    {
      name: "an old JSON ledger without objects",
      make: (f) => writeFileSync(f, JSON.stringify({ version: 1, alerted: {}, pending: [] })),
    },
    {
      name: "an old JSON ledger of another version",
      make: (f) => writeFileSync(f, JSON.stringify({ version: 7, objects: {}, alerted: {}, pending: [] })),
    },
    { name: "a directory", make: (f) => mkdirSync(f) },
    {
      name: "a database that is not a ledger",
      make: async (f) => {
        const env = openLmdb({ path: f, noSubdir: true });
        await env.put("something", "else");
        await env.close();
      },
    },
    {
      name: "a truncated database",
      make: async (f) => {
        const l = await opened(f);
        await l.putObjects(
          "u",
          Array.from({ length: 2000 }, (_, i) => [`k${i}`, outcomeFor(`k${i}`)] as const),
        );
        await l.close();
        truncateSync(f, Math.floor(statSync(f).size / 2));
      },
    },
    {
      name: "a database with its header overwritten",
      make: async (f) => {
        const l = await opened(f);
        await l.close();
        const bytes = readFileSync(f);
        bytes.fill(0x41, 0, 8192);
        writeFileSync(f, bytes);
      },
    },
  ];
  it.each(cases)(
    "$name: LedgerUnreadableError saying how to recover, and the file is left alone",
    async ({ make }) => {
      const file = ledgerFile();
      await make(file);
      const before = statSync(file).isFile() ? readFileSync(file) : undefined;
      for (const readOnly of [false, true]) {
        const ledger = new LocalLedger(file, { retentionMs: DAY });
        const err = await ledger.open({ holder: holderFor("r"), readOnly }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(LedgerUnreadableError);
        expect((err as LedgerUnreadableError).code).toBe("STATE_UNREADABLE");
        expect((err as Error).message).toContain(file);
        expect((err as Error).message).toMatch(/move it aside.*alerts already sent may then be sent again/);
      }
      if (before) expect(readFileSync(file).equals(before)).toBe(true);
      expect(existsSync(`${file}.v1.json`)).toBe(false);
    },
  );
});

describe("LocalLedger: importing the old JSON ledger", () => {
  const v1 = {
    version: 1,
    objects: {
      "CloudTraces/r/2026/11/01/a.json.gz": outcomeFor("CloudTraces/r/2026/11/01/a.json.gz"),
      "CloudTraces/r/2026/11/01/b.json.gz": outcomeFor("CloudTraces/r/2026/11/01/b.json.gz"),
    },
    alerted: { "trace-sent": { messageId: "m-old", at: "2026-11-01T00:00:00.000Z" } },
    pending: [alertFor("trace-pending")],
  };

  it("imports objects, sent keys (as sent to every sink) and pending alerts once, keeping the old file aside", async () => {
    const file = ledgerFile();
    const text = JSON.stringify(v1);
    writeFileSync(file, text);

    // A dry run reads the old ledger as it is and imports nothing.
    const dry = new LocalLedger(file, { retentionMs: 30 * DAY });
    await dry.open({ holder: holderFor("dry"), readOnly: true });
    expect((await dry.sent("smn", ["trace-sent"])).size).toBe(1);
    await dry.close();
    expect(readFileSync(file, "utf8")).toBe(text);

    const ledger = await opened(file);
    expect(readFileSync(`${file}.v1.json`, "utf8")).toBe(text);
    const unit = "CloudTraces/r/2026/11/01";
    const items = Object.keys(v1.objects).map((key) => ({ key, fingerprint: `"etag-${key}"` }));
    expect((await ledger.getObjects(unit, items)).size).toBe(2);
    for (const sink of ["smn", "stdout", "file:/tmp/digest.txt"])
      expect([...(await ledger.sent(sink, ["trace-sent", "trace-new"]))], sink).toEqual(["trace-sent"]);
    expect((await ledger.pending("smn")).map((a) => a.traceId)).toEqual(["trace-pending"]);
    // Sent (and removed) for smn, an imported pending alert is still pending for stdout.
    await ledger.removePending("smn", [alertKey(alertFor("trace-pending"))]);
    expect(await ledger.pending("smn")).toEqual([]);
    expect((await ledger.pending("stdout")).map((a) => a.traceId)).toEqual(["trace-pending"]);
    await ledger.close();

    // The second open finds the database: no import again, the file kept aside is untouched.
    writeFileSync(`${file}.v1.json`, "kept");
    const again = await opened(file, "run-2");
    expect((await again.getObjects(unit, items)).size).toBe(2);
    expect(await again.pending("smn")).toEqual([]);
    await again.close();
    expect(readFileSync(`${file}.v1.json`, "utf8")).toBe("kept");
    expect(readdirSync(path.dirname(file)).sort()).toEqual([
      "ledger.json",
      "ledger.json-lock",
      "ledger.json.v1.json",
    ]);
  });
});

describe("LocalLedger: retention", () => {
  it("drops objects and sent keys older than the retention at close, keeps the rest and pending alerts", async () => {
    const file = ledgerFile();
    const old: ObjectOutcome = outcomeFor("u/old", { at: "2026-10-01T00:00:00.000Z" });
    const fresh: ObjectOutcome = outcomeFor("u/new", { at: "2026-11-01T00:00:00.000Z" });
    // Written on 1 October and 1 November.
    const october = await opened(file, "r1", { now: "2026-10-01T00:00:00.000Z", retentionMs: 10 * DAY });
    // Keys at the edges of a unit's range go too (one starting with U+FFFF, one beyond it), and a neighbour
    // unit's old object, not its new one.
    const odd = ["\uffff\uffff-old", "\u{1F600}-old"];
    await october.putObjects("u", [
      ["u/old", old],
      ["u/rewritten", outcomeFor("u/rewritten", { at: "2026-10-01T00:00:00.000Z" })],
      ...odd.map((k) => [k, outcomeFor(k, { at: "2026-10-01T00:00:00.000Z" })] as const),
    ]);
    await october.putObjects("u#1", [
      ["u/next-old", outcomeFor("u/next-old", { at: "2026-10-01T00:00:00.000Z" })],
    ]);
    await october.markSent("smn", ["k-old"], "m1");
    await october.addPending("smn", [alertFor("t-old")]);
    await october.close();
    const november = await opened(file, "r2", { now: "2026-11-01T00:00:00.000Z", retentionMs: 10 * DAY });
    await november.putObjects("u", [
      ["u/new", fresh],
      ["u/rewritten", outcomeFor("u/rewritten", { at: "2026-11-01T00:00:00.000Z" })],
    ]);
    await november.putObjects("u#1", [
      ["u/next-new", outcomeFor("u/next-new", { at: "2026-11-01T00:00:00.000Z" })],
    ]);
    await november.markSent("smn", ["k-new"], "m2");
    await november.close(); // 1 November minus 10 days: October's entries go

    const check = await opened(file, "r3", { now: "2026-11-02T00:00:00.000Z", retentionMs: 10 * DAY });
    const got = await check.getObjects("u", [
      { key: "u/old", fingerprint: old.fingerprint },
      { key: "u/new", fingerprint: fresh.fingerprint },
      { key: "u/rewritten", fingerprint: '"etag-u/rewritten"' },
    ]);
    expect([...got.keys()].sort()).toEqual(["u/new", "u/rewritten"]);
    const edges = await check.getObjects(
      "u",
      odd.map((key) => ({ key, fingerprint: outcomeFor(key).fingerprint })),
    );
    expect([...edges.keys()]).toEqual([]);
    const next = await check.getObjects(
      "u#1",
      ["u/next-old", "u/next-new"].map((key) => ({ key, fingerprint: outcomeFor(key).fingerprint })),
    );
    expect([...next.keys()]).toEqual(["u/next-new"]);
    expect([...(await check.sent("smn", ["k-old", "k-new"]))]).toEqual(["k-new"]);
    expect((await check.pending("smn")).map((a) => a.traceId)).toEqual(["t-old"]);
    await check.close();
  });
});

interface Child {
  proc: ChildProcess;
  line(done: (line: string) => boolean): Promise<void>;
  lastUnit(): number;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** test/state/ledgerChild.ts in its own Node process (tsx loads the TypeScript, as the CLI tests load dist). */
function startChild(args: string[]): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", path.join(here, "ledgerChild.ts"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: proc.stdout! }).on("line", (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  return {
    proc,
    async line(done) {
      const deadline = Date.now() + 20_000;
      let seen = 0;
      for (;;) {
        while (seen < lines.length) if (done(lines[seen++]!)) return;
        if (proc.exitCode !== null || Date.now() > deadline)
          throw new Error(`child ${args.join(" ")} ended or stalled: ${stderr}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
    lastUnit() {
      const units = lines.map((l) => /^unit (\d+)$/.exec(l)?.[1]).filter((x) => x !== undefined);
      return units.length ? Number(units[units.length - 1]) : -1;
    },
    async kill(signal) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      await exited;
    },
  };
}
