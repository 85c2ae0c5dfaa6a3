/**
 * Input an attacker or an accident controls, end to end through the engine: a trace delivered twice, padded
 * addresses, symbolic links in a local copy of a bucket.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const t = (iso: string) => new Date(iso);

describe("hostile input through the engine", () => {
  it("alerts once for a trace CTS delivered in two files (one trace id, one alert)", async () => {
    const bucket = new CtsBucket(testKeys().privateKey, "b");
    const twice = makeTrace({ traceName: "login", sourceIp: "203.0.113.9", time: t("2024-07-19T00:01:00Z") });
    const once = makeTrace({ traceName: "login", sourceIp: "203.0.113.10", time: t("2024-07-19T00:02:00Z") });
    const first = bucket.addTraceFile({ uploadTime: t("2024-07-19T00:05:00Z"), traces: [twice] });
    bucket.addTraceFile({ uploadTime: t("2024-07-19T00:10:00Z"), traces: [twice, once] });
    // And once more in the next day's folder: units do not make it new.
    bucket.addTraceFile({ uploadTime: t("2024-07-20T00:10:00Z"), traces: [twice] });
    const dir = tempDir();
    bucket.writeTo(dir);
    const r = await runLocal(["scan", dir, "--verify", "off", "--notify", "none"]);
    expect(r.alerts.map((a) => a.traceId).sort()).toEqual([once.trace_id, twice.trace_id].sort());
    expect(r.alerts.find((a) => a.traceId === twice.trace_id)!.object).toBe(first);
    expect(r.summary.alerts).toBe(2);
    expect(r.summary.matched).toBe(4);
  });

  it.each([" 10.0.0.1", "10.0.0.1 ", "\t10.0.0.1", "10.0.0.1\n"])(
    "alerts on a padded source address %j, even inside the allowlist",
    async (ip) => {
      const bucket = new CtsBucket(testKeys().privateKey, "b");
      bucket.addTraceFile({
        uploadTime: t("2024-07-19T00:05:00Z"),
        traces: [makeTrace({ traceName: "login", sourceIp: ip, time: t("2024-07-19T00:01:00Z") })],
      });
      const dir = tempDir();
      bucket.writeTo(dir);
      const r = await runLocal(["scan", dir, "--verify", "off", "--notify", "none", "--allow", "10.0.0.0/8"]);
      // Reported trimmed, judged as recorded.
      expect(r.alerts).toEqual([
        expect.objectContaining({ sourceIp: ip.trim(), reason: "invalid-source-ip" }),
      ]);
    },
  );

  it("follows symbolic links inside the source and lists every other link as skipped with its reason", async () => {
    const dir = tempDir();
    const folder = path.join(dir, "CloudTraces", "ap-southeast-1", "2024", "07", "19", "system", "IAM");
    mkdirSync(folder, { recursive: true });
    const trace = (ip: string) =>
      gzipSync(
        JSON.stringify([makeTrace({ traceName: "login", sourceIp: ip, time: t("2024-07-19T00:01:00Z") })]),
      );
    const name = (n: number) =>
      `cts_CloudTrace_ap-southeast-1_2024-07-19T00-0${n}-00Z_000000000000000${n}.json.gz`;
    const elsewhere = path.join(tempDir(), "outside.json.gz");
    writeFileSync(elsewhere, trace("203.0.113.99"));
    const real = path.join(tempDir(), "real");
    mkdirSync(real);
    writeFileSync(path.join(folder, name(1)), trace("203.0.113.1"));
    symlinkSync(path.join(folder, name(1)), path.join(folder, name(2))); // a file inside: followed
    symlinkSync(elsewhere, path.join(folder, name(3))); // outside the source
    symlinkSync(path.join(folder, "gone.json.gz"), path.join(folder, name(4))); // dangling
    symlinkSync(path.join(dir, "CloudTraces"), path.join(folder, "loop")); // a loop
    const r = await runLocal(["scan", dir, "--verify", "off", "--notify", "none"]);
    const byName = (n: number) => r.files.find((f) => f.object.endsWith(name(n)));
    expect(byName(1)).toMatchObject({ status: "scanned", traces: 1 });
    expect(byName(2)).toMatchObject({ status: "scanned", traces: 1 });
    expect(byName(3)).toMatchObject({
      status: "skipped",
      reason: expect.stringMatching(/outside the source/),
    });
    expect(byName(4)).toMatchObject({ status: "skipped", reason: expect.stringMatching(/dangling/) });
    expect(r.files.find((f) => f.object.endsWith("/loop"))).toMatchObject({
      status: "skipped",
      reason: expect.stringMatching(/loop/),
    });
    expect(r.files).toHaveLength(5);
    expect(r.alerts.map((a) => a.sourceIp)).not.toContain("203.0.113.99");
  });
});

describe("a link in place of a file a digest lists", () => {
  it.each([
    ["outside the source, mid-day", "outside", "2024-07-19T00:00:00Z", 1],
    ["dangling, mid-day", "dangling", "2024-07-19T00:00:00Z", 1],
    // The file of 23:45 is listed by the digest of 00:00, in the next day's folder (the next unit).
    ["outside the source, listed in the next day's folder", "outside", "2024-07-19T23:00:00Z", 2],
    ["dangling, listed in the next day's folder", "dangling", "2024-07-19T23:00:00Z", 2],
  ] as const)(
    "(%s) is a missing file: an integrity violation naming the digest, and the other files read",
    async (_what, kind, fromIso, replacedAt) => {
      const bucket = new CtsBucket(testKeys().privateKey, "b");
      const from = t(fromIso);
      const minutes = [5, 25, 45];
      const files = minutes.map((m) =>
        bucket.addTraceFile({
          uploadTime: new Date(from.getTime() + m * 60_000),
          traces: [
            makeTrace({
              traceName: "login",
              sourceIp: `203.0.113.${m}`,
              time: new Date(from.getTime() + (m - 1) * 60_000),
            }),
          ],
        }),
      );
      bucket.addDigests({ service: "IAM", from, to: new Date(from.getTime() + 2 * 3600_000) });
      const dir = tempDir();
      bucket.writeTo(dir);
      const replaced = path.join(dir, files[replacedAt]!);
      const to =
        kind === "outside" ? path.join(tempDir(), "elsewhere.json.gz") : path.join(dir, "gone.json.gz");
      if (kind === "outside") writeFileSync(to, gzipSync("[]"));
      rmSync(replaced);
      symlinkSync(to, replaced);
      for (const args of [
        ["verify", dir],
        ["scan", dir, "--verify", "require", "--notify", "none"],
      ]) {
        const r = await runLocal(args);
        const records = r.files.filter((f) => f.object === files[replacedAt]);
        expect(records).toEqual([
          expect.objectContaining({
            status: "failed",
            integrity: "missing",
            error: expect.stringMatching(
              /^listed in digest .*Digest.* but cannot be read: .*(outside the source|dangling)/,
            ),
          }),
        ]);
        expect(r.summary.integrityViolations).toBeGreaterThan(0);
        expect(r.exitCode).toBe(3);
        const others = files.filter((_, i) => i !== replacedAt);
        for (const f of others)
          expect(r.files.find((x) => x.object === f)).toMatchObject({ integrity: "valid" });
        if (args[0] === "scan")
          expect(r.alerts.map((a) => a.sourceIp).sort()).toEqual(
            minutes
              .filter((_, i) => i !== replacedAt)
              .map((m) => `203.0.113.${m}`)
              .sort(),
          );
      }
    },
  );
});
