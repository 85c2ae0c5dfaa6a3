import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { FileNotifier } from "../src/notify/FileNotifier.js";
import type { AlertDigest, Notifier } from "../src/notify/types.js";
import { CtsBucket, makeTrace } from "./support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "./support/harness.js";

const t = (iso: string) => new Date(iso);

/** A bucket with unauthorized logins, a corrupt file, a non-trace object, and files of two services. */
function messyBucket(): { dir: string; keys: Record<string, string> } {
  const bucket = new CtsBucket(testKeys().privateKey);
  const keys: Record<string, string> = {};
  keys.good = bucket.addTraceFile({
    uploadTime: t("2024-07-19T00:10:00Z"),
    traces: [
      makeTrace({
        traceName: "login",
        sourceIp: "203.0.113.7",
        time: t("2024-07-19T00:05:00Z"),
        user: "alice",
      }),
      makeTrace({ traceName: "LOGIN", sourceIp: "192.0.2.1", time: t("2024-07-19T00:06:00Z"), user: "dave" }),
      makeTrace({
        traceName: "loginfailed",
        sourceIp: "2001:db8:bad::1",
        time: t("2024-07-19T00:07:00Z"),
        user: "bob",
      }),
    ],
  });
  keys.plain = bucket.addTraceFile({
    uploadTime: t("2024-07-19T00:20:00Z"),
    plain: true,
    traces: [
      makeTrace({
        traceName: "logout",
        sourceIp: "198.51.100.70",
        time: t("2024-07-19T00:15:00Z"),
        user: "carol",
      }),
    ],
  });
  keys.ecs = bucket.addTraceFile({
    service: "ECS",
    uploadTime: t("2024-07-19T00:30:00Z"),
    traces: [
      makeTrace({
        traceName: "login",
        sourceIp: "203.0.113.99",
        time: t("2024-07-19T00:25:00Z"),
        serviceType: "ECS",
      }),
    ],
  });
  // A truncated file: the first traces are readable, then the gzip ends.
  const many = Array.from({ length: 3000 }, (_, i) =>
    makeTrace({
      traceName: i === 0 ? "login" : "createUser",
      sourceIp: "203.0.113.44",
      time: t("2024-07-19T00:35:00Z"),
      user: "mallory",
    }),
  );
  const whole = gzipSync(Buffer.from(JSON.stringify(many)));
  keys.truncated =
    "CloudTraces/ap-southeast-1/2024/07/19/system/IAM/cts_CloudTrace_ap-southeast-1_2024-07-19T00-40-00Z_00000000000000aa.json.gz";
  bucket.put(keys.truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  keys.notGzip =
    "CloudTraces/ap-southeast-1/2024/07/19/system/IAM/cts_CloudTrace_ap-southeast-1_2024-07-19T00-45-00Z_00000000000000bb.json.gz";
  bucket.put(keys.notGzip, Buffer.from("<html>not a trace file</html>"));
  keys.other = "CloudTraces/README.txt";
  bucket.put(keys.other, Buffer.from("hello"));
  const dir = tempDir();
  bucket.writeTo(dir);
  return { dir, keys };
}

describe("run", () => {
  it("accounts for every object exactly once, failing only the corrupt ones", async () => {
    const { dir, keys } = messyBucket();
    const r = await runLocal(["scan", dir, "--allow", "192.0.2.0/24,198.51.100.7", "--concurrency", "3"]);
    expect(r.files.map((f) => f.object).sort()).toEqual(Object.values(keys).sort());
    const byKey = Object.fromEntries(r.files.map((f) => [f.object, f]));
    expect(byKey[keys.good!]).toMatchObject({ kind: "trace", status: "scanned", traces: 3, matched: 3 });
    expect(byKey[keys.plain!]).toMatchObject({ status: "scanned", traces: 1 });
    expect(byKey[keys.ecs!]).toMatchObject({ status: "skipped", reason: expect.stringContaining("ECS") });
    expect(byKey[keys.other!]).toMatchObject({
      kind: "other",
      status: "skipped",
      reason: expect.stringContaining("not a CTS"),
    });
    expect(byKey[keys.truncated!]).toMatchObject({
      status: "failed",
      error: expect.stringMatching(/gzip|JSON/i),
    });
    expect(byKey[keys.notGzip!]).toMatchObject({ status: "failed", error: expect.stringContaining("JSON") });
    expect(r.summary).toMatchObject({ objects: 6, traceFiles: 5, digestFiles: 0, failed: 2, skipped: 2 });
    expect(r.exitCode).toBe(1);
  });

  it("reports alerts with the documented fields, sorted by time, including those read before a file failed", async () => {
    const { dir, keys } = messyBucket();
    const r = await runLocal(["scan", dir, "--allow", "192.0.2.0/24,198.51.100.7"]);
    expect(r.alerts.map((a) => [a.sourceIp, a.traceName, a.user])).toEqual([
      ["203.0.113.7", "login", "alice"],
      ["2001:db8:bad::1", "loginfailed", "bob"],
      ["198.51.100.70", "logout", "carol"],
      ["203.0.113.44", "login", "mallory"],
    ]);
    expect(r.alerts[0]).toMatchObject({
      traceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      userId: expect.any(String),
      domain: "acme",
      time: "2024-07-19T00:05:00.000Z",
      region: "ap-southeast-1",
      object: keys.good,
      integrity: "unverified",
      reason: "not-allowlisted",
    });
    expect(r.alerts[3]).toMatchObject({ object: keys.truncated, fileError: expect.any(String) });
    expect(r.summary.alerts).toBe(4);
  });

  it("gives the same report whatever the concurrency", async () => {
    const { dir } = messyBucket();
    const strip = (r: Awaited<ReturnType<typeof runLocal>>) => ({ ...r, startedAt: "", finishedAt: "" });
    const one = strip(await runLocal(["scan", dir, "--concurrency", "1"]));
    const many = strip(await runLocal(["scan", dir, "--concurrency", "16"]));
    expect(many).toEqual(one);
  });

  it("scans a single exported file whatever its name, and honours the window", async () => {
    const dir = tempDir();
    const file = path.join(dir, "export.json");
    writeFileSync(
      file,
      JSON.stringify({
        traces: [
          makeTrace({ traceName: "login", sourceIp: "203.0.113.1", time: t("2024-07-18T10:00:00Z") }),
          makeTrace({ traceName: "login", sourceIp: "203.0.113.2", time: t("2024-07-19T10:00:00Z") }),
        ],
      }),
    );
    const r = await runLocal(["scan", file, "--since", "2024-07-19T00:00:00Z"]);
    expect(r.files).toEqual([
      expect.objectContaining({ kind: "trace", status: "scanned", traces: 2, matched: 1 }),
    ]);
    expect(r.alerts.map((a) => a.sourceIp)).toEqual(["203.0.113.2"]);
  });

  it("skips objects uploaded outside the window, with a reason", async () => {
    const { dir, keys } = messyBucket();
    const r = await runLocal([
      "scan",
      dir,
      "--since",
      "2024-07-19T00:18:00Z",
      "--until",
      "2024-07-19T00:19:00Z",
    ]);
    const good = r.files.find((f) => f.object === keys.good);
    expect(good).toMatchObject({ status: "skipped", reason: expect.stringContaining("window") });
    expect(r.files.find((f) => f.object === keys.plain)?.status).toBe("scanned");
  });

  it("sends one digest per run, and none when there is nothing to tell", async () => {
    const { dir } = messyBucket();
    const sent: AlertDigest[] = [];
    const notifier: Notifier = {
      sink: "memory",
      send: async (d) => {
        sent.push(d);
        return { sink: "memory", parts: d.parts.length, messageIds: ["m1"] };
      },
    };
    const r = await runLocal(["scan", dir], { notifier });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.alerts).toBe(r.alerts.length);
    expect(r.notifications).toEqual([{ sink: "memory", parts: 1, messageIds: ["m1"] }]);

    const quiet = tempDir();
    mkdirSync(path.join(quiet, "CloudTraces"));
    sent.length = 0;
    const empty = await runLocal(["scan", quiet], { notifier });
    expect(sent).toHaveLength(0);
    expect(empty.notifications).toEqual([]);
  });

  it("sends nothing on --dry-run", async () => {
    const { dir } = messyBucket();
    const out = path.join(tempDir(), "digest.txt");
    const r = await runLocal(["scan", dir, "--dry-run"], { notifier: new FileNotifier(out) });
    expect(() => readFileSync(out)).toThrow();
    expect(r.notifications[0]).toMatchObject({ sink: "file", error: "dry run: not sent" });
  });

  it("makes a failed notification exit 1 and says why", async () => {
    const { dir } = messyBucket();
    const failing: Notifier = {
      sink: "broken",
      send: async () => {
        throw new Error("boom");
      },
    };
    const r = await runLocal(["scan", dir], { notifier: failing });
    expect(r.notifications[0]).toMatchObject({ sink: "broken", error: expect.stringContaining("boom") });
    expect(r.exitCode).toBe(1);
  });
});
