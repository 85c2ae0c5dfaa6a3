import { constants, generateKeyPairSync, publicDecrypt } from "node:crypto";
import { rmSync, renameSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { CTS_PUBLIC_KEY_BASE64, loadPublicKey } from "../../src/integrity/signature.js";
import type { Report } from "../../src/report/types.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const t = (iso: string) => new Date(iso);

/** Three hours of IAM files with hourly digests, plus one file newer than every digest. */
function baseline(): { bucket: CtsBucket; files: string[]; digests: string[]; pending: string } {
  const bucket = new CtsBucket(testKeys().privateKey, "bucket");
  const files: string[] = [];
  for (const hour of ["00", "01", "02"]) {
    for (const minute of ["10", "40"]) {
      files.push(
        bucket.addTraceFile({
          uploadTime: t(`2024-07-19T${hour}:${minute}:00Z`),
          traces: [
            makeTrace({
              traceName: "login",
              sourceIp: "203.0.113.7",
              time: t(`2024-07-19T${hour}:${minute}:00Z`),
            }),
          ],
        }),
      );
    }
  }
  const digests = bucket.addDigests({
    service: "IAM",
    from: t("2024-07-19T00:00:00Z"),
    to: t("2024-07-19T03:00:00Z"),
  });
  const pending = bucket.addTraceFile({
    uploadTime: t("2024-07-19T03:20:00Z"),
    traces: [makeTrace({ traceName: "login", sourceIp: "203.0.113.8", time: t("2024-07-19T03:15:00Z") })],
  });
  return { bucket, files, digests, pending };
}

function write(bucket: CtsBucket): string {
  const dir = tempDir();
  bucket.writeTo(dir);
  return dir;
}

/** Half an hour after the baseline's newest digest: its newest file (03:20) is still pending, its digest not yet due. */
const BASELINE_NOW = t("2024-07-19T03:30:00Z");
/** The engine with the run's clock pinned, so that "now" is the time the bucket describes. */
const runAt = (args: string[], now = BASELINE_NOW) => runLocal(args, { clock: () => now });

const file = (r: Report, key: string) => r.files.find((f) => f.object === key);
const digest = (r: Report, key: string) => r.digests.find((d) => d.object === key);

describe("integrity verification", () => {
  it("finds everything valid in an untouched bucket, the newest file pending", async () => {
    const { bucket, files, digests, pending } = baseline();
    const r = await runAt(["verify", write(bucket)]);
    expect(r.digests.map((d) => d.status)).toEqual(["valid", "valid", "valid"]);
    expect(digests.every((k) => digest(r, k)?.status === "valid")).toBe(true);
    for (const f of files)
      expect(file(r, f)).toMatchObject({ integrity: "valid", digest: expect.any(String) });
    expect(file(r, pending)?.integrity).toBe("pending");
    expect(r.gaps).toEqual([]);
    expect(r.summary.integrityViolations).toBe(0);
    expect(r.exitCode).toBe(0);
  });

  it("marks a modified file, and alerts from it carry the verdict", async () => {
    const { bucket, files } = baseline();
    const target = files[2]!;
    const tampered = [
      makeTrace({ traceName: "login", sourceIp: "203.0.113.66", time: t("2024-07-19T01:10:00Z") }),
    ];
    bucket.put(target, gzipSync(Buffer.from(JSON.stringify(tampered))));
    const dir = write(bucket);
    const r = await runAt(["scan", dir, "--verify", "require"]);
    expect(file(r, target)).toMatchObject({
      integrity: "modified",
      reason: expect.stringMatching(/md5 is [0-9a-f]{32}, the digest says/),
    });
    expect(r.alerts.find((a) => a.sourceIp === "203.0.113.66")?.integrity).toBe("modified");
    expect(r.exitCode).toBe(3);
    const warn = await runAt(["scan", dir]);
    expect(warn.exitCode).toBe(0);
    expect(warn.summary.integrityViolations).toBe(1);
  });

  it("reports a deleted file as missing, naming the digest that lists it", async () => {
    const { bucket, files } = baseline();
    const dir = write(bucket);
    rmSync(path.join(dir, ...files[3]!.split("/")));
    const r = await runAt(["verify", dir]);
    expect(file(r, files[3]!)).toMatchObject({
      status: "failed",
      integrity: "missing",
      error: expect.stringContaining("listed in digest"),
    });
    expect(r.summary.failed).toBe(0);
    expect(r.exitCode).toBe(3);
  });

  it("reports a file injected into a covered hour as unlisted", async () => {
    const { bucket } = baseline();
    const dir = write(bucket);
    const injected = new CtsBucket(testKeys().privateKey);
    const key = injected.addTraceFile({
      uploadTime: t("2024-07-19T01:25:00Z"),
      traces: [makeTrace({ traceName: "login", sourceIp: "192.0.2.1", time: t("2024-07-19T01:20:00Z") })],
    });
    injected.writeTo(dir);
    const r = await runAt(["verify", dir]);
    expect(file(r, key)?.integrity).toBe("unlisted");
    expect(r.exitCode).toBe(3);
  });

  it("rejects a digest whose metadata signature was forged with another key", async () => {
    const { bucket, digests } = baseline();
    const forger = new CtsBucket(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
    const newest = digests[2]!;
    bucket.metadata.set(newest, { signature: forger.sign("anything") });
    const r = await runAt(["verify", write(bucket)]);
    expect(digest(r, newest)).toMatchObject({ status: "invalid-signature" });
    // Files it lists can no longer be vouched for.
    const listed = r.files.filter((f) => f.digest === newest);
    expect(listed.length).toBeGreaterThan(0);
    for (const f of listed) expect(f.integrity).toBe("unverified");
    expect(r.exitCode).toBe(3);
  });

  it("reports a digest altered after a newer one linked it as hash-mismatch", async () => {
    const { bucket, digests, files } = baseline();
    const middle = digests[1]!;
    const body = JSON.parse(gunzipSync(bucket.objects.get(middle)!).toString()) as { log_files: unknown[] };
    body.log_files = body.log_files.slice(1); // hide a file
    bucket.put(middle, gzipSync(Buffer.from(JSON.stringify(body))));
    const r = await runAt(["verify", write(bucket)]);
    expect(digest(r, middle)).toMatchObject({
      status: "hash-mismatch",
      reason: expect.stringContaining(digests[2]!),
    });
    expect(digest(r, digests[2]!)?.status).toBe("valid");
    expect(file(r, files[2]!)?.integrity).toBe("unlisted");
  });

  it("reports a moved digest, and the place it left as missing", async () => {
    const { bucket, digests } = baseline();
    const dir = write(bucket);
    const from = path.join(dir, ...digests[0]!.split("/"));
    const movedKey = digests[0]!.replace("/2024/07/19/", "/2024/07/20/");
    const to = path.join(dir, ...movedKey.split("/"));
    mkdirSync(path.dirname(to), { recursive: true });
    renameSync(from, to);
    renameSync(`${from}.meta.json`, `${to}.meta.json`);
    const r = await runAt(["verify", dir]);
    expect(digest(r, movedKey)).toMatchObject({
      status: "moved",
      reason: expect.stringContaining(digests[0]!),
    });
    expect(digest(r, digests[0]!)?.status).toBe("missing");
  });

  it("reports a missing digest in the middle of a chain, with a gap", async () => {
    const { bucket, digests, files } = baseline();
    const dir = write(bucket);
    rmSync(path.join(dir, ...digests[1]!.split("/")));
    rmSync(path.join(dir, ...digests[1]!.split("/")) + ".meta.json");
    const r = await runAt(["verify", dir]);
    expect(digest(r, digests[1]!)).toMatchObject({
      status: "missing",
      reason: expect.stringContaining(digests[2]!),
    });
    expect(r.gaps).toEqual([
      expect.objectContaining({
        chain: "CloudTraces/ap-southeast-1/system/Digest/IAM",
        to: "2024-07-19T02:00:00.000Z",
      }),
    ]);
    // The digests either side are still verified: the newest by its metadata, the oldest by its own.
    expect(digest(r, digests[0]!)?.status).toBe("valid");
    expect(digest(r, digests[2]!)?.status).toBe("valid");
    // Files of the lost hour have no digest left to vouch for them.
    expect(file(r, files[2]!)?.integrity).toBe("unverified");
    expect(r.exitCode).toBe(3);
  });

  it.each([
    ["not gzip", Buffer.from("this is not a digest")],
    ["gzip of invalid JSON", gzipSync(Buffer.from("{ nope"))],
    ["missing fields", gzipSync(Buffer.from(JSON.stringify({ digest_object: "x" })))],
    [
      "unknown hash algorithm",
      gzipSync(
        Buffer.from(
          JSON.stringify({
            digest_start_time: "2024-07-19T00-00-00Z",
            digest_end_time: "2024-07-19T01-00-00Z",
            digest_bucket: "bucket",
            digest_object: "x",
            digest_signature_algorithm: "SHA256withRSA",
            log_files: [{ object: "a", log_hash_value: "00", log_hash_algorithm: "CRC64" }],
          }),
        ),
      ),
    ],
  ])("reports a corrupt digest (%s) as invalid-format", async (_name, bytes) => {
    const { bucket, digests } = baseline();
    bucket.put(digests[0]!, bytes);
    const r = await runAt(["verify", write(bucket)]);
    expect(digest(r, digests[0]!)).toMatchObject({ status: "invalid-format", reason: expect.any(String) });
    if (_name === "unknown hash algorithm") expect(digest(r, digests[0]!)?.reason).toContain("CRC64");
    expect(r.exitCode).toBe(3);
  });

  it("marks a digest without metadata that nothing links to as unanchored", async () => {
    const { bucket, digests } = baseline();
    bucket.metadata.delete(digests[2]!);
    const r = await runAt(["verify", write(bucket)]);
    expect(digest(r, digests[2]!)?.status).toBe("unanchored");
    // The older ones are still anchored by their own metadata signatures.
    expect(digest(r, digests[0]!)?.status).toBe("valid");
  });

  it("anchors older digests through the chain alone when only the newest has a signature", async () => {
    const { bucket, digests } = baseline();
    bucket.metadata.delete(digests[0]!);
    bucket.metadata.delete(digests[1]!);
    const r = await runAt(["verify", write(bucket)]);
    expect(r.digests.map((d) => d.status)).toEqual(["valid", "valid", "valid"]);
  });

  it("reports a chain restart as a gap", async () => {
    const bucket = new CtsBucket(testKeys().privateKey);
    bucket.addDigests({ service: "IAM", from: t("2024-07-19T00:00:00Z"), to: t("2024-07-19T01:00:00Z") });
    const restarted = new CtsBucket(testKeys().privateKey);
    restarted.addDigests({ service: "IAM", from: t("2024-07-19T05:00:00Z"), to: t("2024-07-19T06:00:00Z") });
    const dir = write(bucket);
    restarted.writeTo(dir);
    const r = await runAt(["verify", dir], t("2024-07-19T06:30:00Z"));
    expect(r.digests.map((d) => d.status)).toEqual(["valid", "valid"]);
    expect(r.gaps).toEqual([
      expect.objectContaining({
        from: "2024-07-19T01:00:00.000Z",
        to: "2024-07-19T05:00:00.000Z",
        reason: expect.stringContaining("restarts"),
      }),
    ]);
    // Hours no digest covers are a violation: verify fails closed (it exited 0 before).
    expect(r.exitCode).toBe(3);
  });

  it("verifies nothing and reads no digest with --verify off", async () => {
    const { bucket, files } = baseline();
    const r = await runAt(["scan", write(bucket), "--verify", "off"]);
    expect(r.digests).toEqual([]);
    expect(file(r, files[0]!)?.integrity).toBe("unverified");
    expect(r.files.filter((f) => f.kind === "digest").every((f) => f.status === "skipped")).toBe(true);
  });

  it("rejects everything under the wrong public key", async () => {
    const { bucket } = baseline();
    const dir = write(bucket);
    const r = await runAt(["verify", dir, "--public-key", CTS_PUBLIC_KEY_BASE64]);
    expect(r.digests.every((d) => d.status === "invalid-signature")).toBe(true);
  });
});

describe("the CTS public key (reference §3.4)", () => {
  it("parses as a 2048-bit RSA key, and the documented example signature is genuine under it", () => {
    const key = loadPublicKey(CTS_PUBLIC_KEY_BASE64, "test");
    expect(key.asymmetricKeyType).toBe("rsa");
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const signature =
      "7af7cbef4f3c78eab5048030d402810841400cf70eb22f93d4fedd13b13a8208a5dc04ce2f8bd0a4918f933ca3fcb17595ae59386a2dc3e3046fa97688a9815a2d036fa10193534c0ebbecff67221e22ac9cf8b781cbae3a81eaccfc0a2bd1a99081b1e4fe99b19caa771876ba7cce16d002feb4578cd89bc6f1faaca639ab48f3cb56007bcc5e248968f4a17a95b8cdbc7d8bbd7c63630da878cd4d471fc75c60bac5f730d94fefe8fdd2f2fa8accd62dbe100eab7773e7915e91be4474291b9dacea63a8267390bcb4855b5825554ebb07d4a29ce077c364213c575c461d1e9fafa0c29fde1c6de1d5630e015200821b2f3ae91e53cd8591433dd7c0b4c8bc";
    const digestInfo = publicDecrypt(
      { key, padding: constants.RSA_PKCS1_PADDING },
      Buffer.from(signature, "hex"),
    );
    expect(digestInfo.toString("hex")).toBe(
      "3031300d060960864801650304020105000420dc3f0e77963b88aec6f3f266cf97db98c61e3a0ea541f77b8cabcc0f7914c01a",
    );
  });

  it("loads a PEM file, PEM text and base64, and names the option when it is not a key", () => {
    const dir = tempDir();
    const pem = testKeys().publicKey.export({ type: "spki", format: "pem" }).toString();
    writeFileSync(path.join(dir, "k.pem"), pem);
    expect(loadPublicKey(path.join(dir, "k.pem"), "--public-key").asymmetricKeyType).toBe("rsa");
    expect(loadPublicKey(pem, "--public-key").asymmetricKeyType).toBe("rsa");
    expect(() => loadPublicKey(path.join(dir, "nope.pem"), "--public-key")).toThrow(
      /--public-key: cannot read/,
    );
    expect(() => loadPublicKey("A".repeat(80), "--public-key")).toThrow(
      /--public-key: not an RSA public key/,
    );
  });
});
