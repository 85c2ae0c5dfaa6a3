/**
 * A rerun over a local ledger (DESIGN "State and idempotency"): whatever was reused, its report is the report a
 * run without a ledger gives of the same bucket, and an object that changed since is read again.
 */
import { appendFileSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { Report } from "../../src/report/types.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

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
