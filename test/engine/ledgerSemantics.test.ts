/**
 * The engine's use of a ledger (DESIGN "State and idempotency"), with the real OBS ledger on s3rver: alerts sent
 * per sink, concurrent runs that keep each other's unsent alerts, and a ledger that cannot be read.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { ObsLedger } from "../../src/state/ObsLedger.js";
import type { AlertDigest, Notifier } from "../../src/notify/types.js";
import { NotifyError } from "../../src/errors.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

const BUCKET = "engine-ledger";
let s3: S3TestServer;
beforeAll(async () => {
  s3 = await S3TestServer.start([BUCKET]);
}, 60_000);
afterAll(() => s3.stop());

const ledgerAt = (prefix: string) =>
  new ObsLedger(
    new ObsBucket(BUCKET, {
      endpoint: s3.endpoint,
      ...S3_CREDENTIALS,
      retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10 },
      timeoutSeconds: 5,
    }),
    prefix,
  );

/** A notifier that records what it sends, or fails. */
function recorder(target: string, fail = false): Notifier & { sent: AlertDigest[] } {
  const sent: AlertDigest[] = [];
  return {
    sink: "memory",
    target,
    sent,
    send: async (d) => {
      if (fail) throw new NotifyError("SEND", `${target} is down`);
      sent.push(d);
      return { sink: "memory", parts: d.parts.length, messageIds: [`${target}-${sent.length}`] };
    },
  };
}

/** A local bucket with `n` unauthorised logins from distinct addresses, starting at `offset`. */
function bucketWith(n: number, offset = 0): string {
  const bucket = new CtsBucket(testKeys().privateKey, "b");
  for (let i = 0; i < n; i++) {
    const at = new Date(Date.UTC(2024, 6, 19, 0, 5) + (offset + i) * 60_000);
    bucket.addTraceFile({
      uploadTime: at,
      traces: [
        makeTrace({
          traceName: "login",
          sourceIp: `203.0.113.${offset + i}`,
          time: at,
          user: `u${offset + i}`,
        }),
      ],
    });
  }
  const dir = tempDir();
  bucket.writeTo(dir);
  return dir;
}

const scan = (dir: string) => ["scan", dir, "--verify", "off"];

describe("the engine's ledger semantics (OBS ledger on s3rver)", () => {
  it("records sent alerts per sink: printed on one does not stop them going to another, and never twice to one", async () => {
    const dir = bucketWith(3);
    const prefix = `state/${randomUUID()}`;
    const terminal = recorder("stdout");
    const smn = recorder("smn:topic");
    const first = await runLocal(scan(dir), { notifier: terminal, ledger: ledgerAt(prefix) });
    expect(first.alerts).toHaveLength(3);
    expect(terminal.sent).toHaveLength(1);
    const second = await runLocal(scan(dir), { notifier: smn, ledger: ledgerAt(prefix) });
    expect(smn.sent).toHaveLength(1);
    expect(smn.sent[0]!.alerts).toBe(3);
    expect(second.summary.suppressed).toBe(0);
    const again = await runLocal(scan(dir), { notifier: smn, ledger: ledgerAt(prefix) });
    expect(smn.sent).toHaveLength(1);
    expect(again.summary).toMatchObject({ alerts: 3, suppressed: 3 });
  });

  it("keeps the unsent alerts of two concurrent runs, and a later run sends each exactly once", async () => {
    const prefix = `state/${randomUUID()}`;
    const a = bucketWith(4, 0);
    const b = bucketWith(5, 10);
    const down = recorder("smn:topic", true);
    const [ra, rb] = await Promise.all([
      runLocal(scan(a), { notifier: down, ledger: ledgerAt(prefix), saveUnsent: async () => "kept" }),
      runLocal(scan(b), { notifier: down, ledger: ledgerAt(prefix), saveUnsent: async () => "kept" }),
    ]);
    expect(ra.notifications[0]!.error).toMatch(/down/);
    expect(rb.notifications[0]!.error).toMatch(/down/);
    // Neither run knew of the other's alerts; the ledger holds both sets.
    const up = recorder("smn:topic");
    const later = await runLocal(scan(tempDir()), { notifier: up, ledger: ledgerAt(prefix) });
    expect(up.sent).toHaveLength(1);
    expect(up.sent[0]!.alerts).toBe(9);
    expect(later.alerts.filter((x) => x.pending)).toHaveLength(9);
    const after = await runLocal(scan(tempDir()), { notifier: up, ledger: ledgerAt(prefix) });
    expect(up.sent).toHaveLength(1);
    expect(after.alerts).toHaveLength(0);
  });

  it("scans and reports with a ledger it cannot read, sends nothing, keeps the digest and exits 1 saying how to recover", async () => {
    const dir = bucketWith(2);
    const prefix = `state/${randomUUID()}`;
    const notifier = recorder("smn:topic");
    // A pending alert whose marker is not an alert: what was not sent cannot be known.
    const bucket = new ObsBucket(BUCKET, { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 });
    const ledger = ledgerAt(prefix);
    await ledger.open({ holder: { run: "x", pid: 1, host: "h", startedAt: "", command: "" } });
    await ledger.addPending("smn:topic", [
      {
        traceId: "t",
        traceName: "login",
        user: "",
        userId: "",
        domain: "",
        sourceIp: "203.0.113.200",
        time: "",
        region: "",
        object: "o",
        integrity: "unverified",
        reason: "not-allowlisted",
      },
    ]);
    await ledger.close();
    const pendingKey = (await bucket.listAll(`${prefix}/pending/`))[0]!.key;
    await bucket.putText(pendingKey, "{not json");
    const saved = `${tempDir()}/digest.txt`;
    const r = await runLocal(scan(dir), {
      notifier,
      ledger: ledgerAt(prefix),
      saveUnsent: async (d) => {
        const { writeFileSync } = await import("node:fs");
        writeFileSync(saved, d.parts.join("\n"));
        return saved;
      },
    });
    expect(notifier.sent).toHaveLength(0);
    expect(r.alerts).toHaveLength(2);
    expect(r.files.filter((f) => f.kind === "trace")).toHaveLength(2);
    expect(r.notifications).toEqual([
      expect.objectContaining({ error: expect.stringMatching(/not sent/), savedTo: saved }),
    ]);
    expect(readFileSync(saved, "utf8")).toContain("203.0.113.0");
    expect(r.errors.join("\n")).toMatch(/pending/);
    expect(r.exitCode).toBe(1);
  });
});
