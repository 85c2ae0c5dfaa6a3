/**
 * The engine works one region-day folder (unit) at a time. These runs cross midnight and a month's end: every
 * verdict, gap and missing file must be what one pass over the whole bucket gives, each reported once.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Report } from "../../src/report/types.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const t = (iso: string) => new Date(iso);
const FROM = t("2024-07-31T21:00:00Z");
const TO = t("2024-08-01T03:00:00Z");

/** IAM and ECS files every 20 minutes from 21:00 on July 31st to 03:00 on August 1st, hourly digests for both. */
function acrossMidnight(): { bucket: CtsBucket; files: string[]; digests: string[] } {
  const bucket = new CtsBucket(testKeys().privateKey, "bucket");
  const files: string[] = [];
  for (let at = FROM.getTime() + 5 * 60_000; at < TO.getTime(); at += 20 * 60_000) {
    for (const service of ["IAM", "ECS"]) {
      files.push(
        bucket.addTraceFile({
          service,
          uploadTime: new Date(at),
          traces: [makeTrace({ traceName: "login", sourceIp: "203.0.113.7", time: new Date(at - 60_000) })],
        }),
      );
    }
  }
  const digests = [
    ...bucket.addDigests({ service: "IAM", from: FROM, to: TO }),
    ...bucket.addDigests({ service: "ECS", from: FROM, to: TO }),
  ];
  return { bucket, files, digests };
}

function write(bucket: CtsBucket): string {
  const dir = tempDir();
  bucket.writeTo(dir);
  return dir;
}

const file = (r: Report, key: string) => r.files.filter((f) => f.object === key);

function expectEachObjectOnce(r: Report, bucket: CtsBucket): void {
  const listed = r.files.filter((f) => f.integrity !== "missing").map((f) => f.object);
  expect(new Set(listed).size).toBe(listed.length);
  expect([...listed].sort()).toEqual([...bucket.objects.keys()].sort());
}

describe("digest chains across units (midnight, month end)", () => {
  it("verifies every file and digest of a bucket that crosses midnight and a month's end", async () => {
    const { bucket, files, digests } = acrossMidnight();
    const r = await runLocal(["verify", write(bucket)]);
    expectEachObjectOnce(r, bucket);
    expect(r.digests.map((d) => d.status)).toEqual(digests.map(() => "valid"));
    // The files of 23:05 to 23:45 are listed by the digest that lands at 00:00 in the next day's folder.
    for (const f of files) expect(file(r, f)).toMatchObject([{ integrity: "valid" }]);
    expect(r.gaps).toEqual([]);
    expect(r.summary.integrityViolations).toBe(0);
    expect(r.exitCode).toBe(0);
  });

  it("verifies a chain whose signatures are upper-case hex: the previous signature is signed as written", async () => {
    const bucket = new CtsBucket(testKeys().privateKey, "bucket");
    const from = t("2024-07-19T00:00:00Z");
    const to = t("2024-07-19T05:00:00Z");
    for (let at = from.getTime() + 10 * 60_000; at < to.getTime(); at += 30 * 60_000)
      bucket.addTraceFile({ uploadTime: new Date(at), traces: [] });
    const digests = bucket.addDigests({ service: "IAM", from, to, upperCaseSignatures: true });
    const r = await runLocal(["verify", write(bucket)]);
    expect(r.digests.map((d) => d.status)).toEqual(digests.map(() => "valid"));
    expect(r.summary.integrityViolations).toBe(0);
    expect(r.exitCode).toBe(0);
  });

  it("keeps a chain of several days whole: no link is missing where one day's context ends", async () => {
    const bucket = new CtsBucket(testKeys().privateKey, "bucket");
    const from = t("2024-07-29T00:00:00Z");
    const to = t("2024-08-02T02:00:00Z");
    for (let at = from.getTime() + 10 * 60_000; at < to.getTime(); at += 110 * 60_000)
      bucket.addTraceFile({ uploadTime: new Date(at), traces: [] });
    const digests = bucket.addDigests({ service: "IAM", from, to });
    const r = await runLocal(["verify", write(bucket)]);
    expect(r.digests.filter((d) => d.status !== "valid")).toEqual([]);
    expect(r.digests).toHaveLength(digests.length);
    expect(r.gaps).toEqual([]);
    expect(r.files.filter((f) => f.integrity !== "valid")).toEqual([]);
    expectEachObjectOnce(r, bucket);
  });

  it("finds a file of 23:45 deleted, listed by the next day's digest, once", async () => {
    const { bucket, files } = acrossMidnight();
    const victim = files.find((f) => f.includes("/IAM/") && f.includes("2024-07-31T23-45"))!;
    expect(victim).toBeDefined();
    const dir = write(bucket);
    rmSync(path.join(dir, ...victim.split("/")));
    const r = await runLocal(["verify", dir]);
    expect(file(r, victim)).toEqual([
      expect.objectContaining({
        status: "failed",
        integrity: "missing",
        digest: expect.stringContaining("2024/08/01"),
      }),
    ]);
    expect(r.summary.integrityViolations).toBe(1);
    expect(r.exitCode).toBe(3);
  });

  it("reports a missing digest at midnight as one missing digest and one gap, and the files it listed as unlisted", async () => {
    const { bucket, digests } = acrossMidnight();
    const midnight = digests.find((d) => d.includes("/IAM/") && d.includes("2024-08-01T00-00-00Z"))!;
    expect(midnight).toBeDefined();
    bucket.objects.delete(midnight);
    bucket.metadata.delete(midnight);
    const dir = write(bucket);
    const r = await runLocal(["verify", dir]);
    expect(r.digests.filter((d) => d.status === "missing").map((d) => d.object)).toEqual([midnight]);
    expect(r.gaps.filter((g) => g.chain.endsWith("/IAM"))).toHaveLength(1);
    const lateFiles = r.files.filter(
      (f) => f.kind === "trace" && f.object.includes("/IAM/") && /2024-07-31T23-/.test(f.object),
    );
    expect(lateFiles.length).toBe(3);
    for (const f of lateFiles) expect(f.integrity).not.toBe("valid");
    expectEachObjectOnce(r, bucket);
  });

  it("anchors the last digest of a day by the next day's link when its own signature is gone", async () => {
    const { bucket, digests } = acrossMidnight();
    const last = digests.find((d) => d.includes("/IAM/") && d.includes("2024-07-31T23-00-00Z"))!;
    bucket.metadata.delete(last);
    const r = await runLocal(["verify", write(bucket)]);
    expect(r.digests.filter((d) => d.object === last)).toEqual([
      expect.objectContaining({ status: "valid" }),
    ]);
    expect(r.exitCode).toBe(0);
  });

  it("gives alerts of files on both sides of midnight the verdict of their digests", async () => {
    const { bucket } = acrossMidnight();
    const r = await runLocal(["scan", write(bucket), "--notify", "none"]);
    const iamFiles = r.files.filter((f) => f.object.includes("/IAM/") && f.kind === "trace").length;
    expect(r.alerts.length).toBe(iamFiles);
    const late = r.alerts.filter((a) => a.object.includes("2024-07-31T23-"));
    expect(late.length).toBe(3);
    for (const a of late) expect(a.integrity).toBe("valid");
  });
});
