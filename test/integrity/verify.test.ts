import { constants, generateKeyPairSync, publicDecrypt } from "node:crypto";
import { rmSync, renameSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CTS_PUBLIC_KEY_BASE64 } from "../../src/integrity/signature.js";
import { readPublicKey } from "../../src/readPublicKey.js";
import { formatText } from "../../src/report/TextWriter.js";
import type { Report } from "../../src/report/types.js";
import { run } from "../../src/run.js";
import { ObsSource } from "../../src/sources/ObsSource.js";
import { CtsBucket, makeTrace, md5Hex } from "../support/ctsBucket.js";
import { configFor, runLocal, tempDir, testKeys } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

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
    const key = readPublicKey(CTS_PUBLIC_KEY_BASE64, "test");
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
    expect(readPublicKey(path.join(dir, "k.pem"), "--public-key").asymmetricKeyType).toBe("rsa");
    expect(readPublicKey(pem, "--public-key").asymmetricKeyType).toBe("rsa");
    expect(() => readPublicKey(path.join(dir, "nope.pem"), "--public-key")).toThrow(
      /--public-key: cannot read/,
    );
    expect(() => readPublicKey("A".repeat(80), "--public-key")).toThrow(/--public-key: not a public key/);
  });
});

/** Deletes a digest and its metadata sidecar from a written bucket. */
function removeDigest(dir: string, key: string): void {
  rmSync(path.join(dir, ...key.split("/")));
  rmSync(`${path.join(dir, ...key.split("/"))}.meta.json`);
}

/**
 * Rewrites the newest digest of a chain and signs it again with the bucket's key, as CTS would have written it: the
 * change is genuine as far as signatures go (what a digest says, not whether it is authentic, is under test).
 */
function resign(bucket: CtsBucket, key: string, change: (body: Record<string, unknown>) => void): void {
  const body = JSON.parse(gunzipSync(bucket.objects.get(key)!).toString()) as Record<string, unknown>;
  change(body);
  const bytes = gzipSync(Buffer.from(JSON.stringify(body)));
  const end = body.digest_end_time as string;
  const previous = (body.previous_digest_signature as string | undefined) ?? "";
  bucket.put(key, bytes, {
    signature: bucket.sign(`${end}${String(body.digest_object)}${md5Hex(bytes)}${previous}`),
  });
}

const ECS_CHAIN = "CloudTraces/ap-southeast-1/system/Digest/ECS";
const IAM_CHAIN = "CloudTraces/ap-southeast-1/system/Digest/IAM";

/** The baseline plus an ECS chain beside the IAM one (same region and tracker): one ECS file an hour. */
function withEcs(): ReturnType<typeof baseline> & { ecsFiles: string[]; ecsDigests: string[] } {
  const base = baseline();
  const ecsFiles = ["00", "01", "02"].map((hour) =>
    base.bucket.addTraceFile({
      service: "ECS",
      uploadTime: t(`2024-07-19T${hour}:30:00Z`),
      traces: [
        makeTrace({
          traceName: "createServer",
          sourceIp: "192.0.2.9",
          time: t(`2024-07-19T${hour}:29:00Z`),
          serviceType: "ECS",
        }),
      ],
    }),
  );
  const ecsDigests = base.bucket.addDigests({
    service: "ECS",
    from: t("2024-07-19T00:00:00Z"),
    to: t("2024-07-19T03:00:00Z"),
  });
  return { ...base, ecsFiles, ecsDigests };
}

describe("verify fails closed", () => {
  it.each([
    ["every Digest folder is gone", "all", /nothing verified: no digest file in the source/],
    ["the directory is empty", "empty", /nothing verified: no digest file in the source/],
    ["the only digests are invalid (wrong key)", "wrong-key", /nothing verified: none of the 3 digest files/],
  ])("is a violation when it verified nothing: %s", async (_name, how, why) => {
    const { bucket, digests, files } = baseline();
    const dir = how === "empty" ? tempDir() : write(bucket);
    if (how === "all") for (const d of digests) removeDigest(dir, d);
    const args = ["verify", dir, "--format", "text"];
    if (how === "wrong-key") args.push("--public-key", CTS_PUBLIC_KEY_BASE64);
    const r = await runAt(args);
    expect(r.exitCode).toBe(3);
    expect(r.gaps.filter((g) => g.chain === "")).toEqual([
      expect.objectContaining({ reason: expect.stringMatching(why) }),
    ]);
    const text = formatText(r);
    expect(text.split("\n").filter((l) => l.includes("INTEGRITY NOT VERIFIED"))).toEqual([
      expect.stringMatching(why),
    ]);
    if (how === "all") {
      // The files are still only unverified (no chain to judge them by), and the hint stays.
      for (const f of files) expect(file(r, f)?.integrity).toBe("unverified");
      expect(text).toContain("No digest files found");
    }
  });

  it("is a violation when the requested window holds no digest, though other hours do", async () => {
    const { bucket } = baseline();
    const r = await runAt(
      ["verify", write(bucket), "--since", "2024-07-21T00:00:00Z", "--until", "2024-07-22T00:00:00Z"],
      t("2024-07-23T00:00:00Z"),
    );
    expect(r.digests).toEqual([]);
    expect(r.gaps).toEqual([
      expect.objectContaining({
        chain: "",
        from: "2024-07-21T00:00:00.000Z",
        to: "2024-07-22T00:00:00.000Z",
        reason: expect.stringContaining("no digest file in the requested window"),
      }),
    ]);
    expect(r.exitCode).toBe(3);
  });

  it("under scan --verify warn reports that nothing was verified without changing the exit code", async () => {
    const { bucket, digests } = baseline();
    const dir = write(bucket);
    for (const d of digests) removeDigest(dir, d);
    const r = await runAt(["scan", dir, "--notify", "none"]);
    expect(r.gaps).toEqual([
      expect.objectContaining({ chain: "", reason: expect.stringContaining("nothing verified") }),
    ]);
    expect(r.summary.integrityViolations).toBe(1);
    expect(r.exitCode).toBe(0);
  });

  it.each([
    ["signature in its sidecar", "sidecar", "valid", 0],
    ["forged sidecar signature", "forged", "invalid-signature", 3],
    ["no sidecar", "none", "unanchored", 3],
  ])(
    "verifies a single digest file given as the source as a digest: %s",
    async (_name, how, status, code) => {
      const { bucket, digests } = baseline();
      const dir = write(bucket);
      const target = path.join(dir, ...digests[1]!.split("/"));
      if (how === "forged") {
        const forger = new CtsBucket(generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey);
        writeFileSync(`${target}.meta.json`, JSON.stringify({ signature: forger.sign("anything") }));
      }
      if (how === "none") rmSync(`${target}.meta.json`);
      const r = await runAt(["verify", target]);
      expect(r.files).toEqual([expect.objectContaining({ kind: "digest" })]);
      // Its predecessor and the files it lists are not expected beside a digest named alone.
      expect(r.digests).toEqual([expect.objectContaining({ status })]);
      expect(r.gaps.filter((g) => g.chain !== "")).toEqual([]);
      expect(r.exitCode).toBe(code);
    },
  );

  // The 02:10 file's digest (02:00-03:00) is due at 03:15, the 03:20 file's (03:00-04:00) at 04:15: one gap per
  // digest that should have followed the chain's newest, as far as the overdue files show.
  const hour2 = [IAM_CHAIN, "2024-07-19T02:00:00.000Z", "2024-07-19T03:00:00.000Z"];
  const hour3 = [IAM_CHAIN, "2024-07-19T03:00:00.000Z", "2024-07-19T04:00:00.000Z"];
  it.each([
    ["before its digest is due", "2024-07-19T03:10:00Z", "pending", 0, []],
    ["once its digest is due", "2024-07-19T03:20:00Z", "unlisted", 3, [hour2]],
    ["years later", "2026-11-30T00:00:00Z", "unlisted", 3, [hour2, hour3]],
  ])(
    "catches tail truncation (newest digest deleted, a file it listed edited) %s",
    async (_name, now, verdict, code, gaps) => {
      const { bucket, digests, files } = baseline();
      const target = files[4]!; // 02:10, listed by the newest digest (02:00-03:00)
      bucket.put(target, gzipSync(Buffer.from("[]")));
      const dir = write(bucket);
      removeDigest(dir, digests[2]!);
      const r = await runAt(["verify", dir], t(now));
      expect(file(r, target)?.integrity).toBe(verdict);
      expect(r.exitCode).toBe(code);
      expect(r.gaps.map((g) => [g.chain, g.from, g.to])).toEqual(gaps);
      if (verdict === "unlisted") {
        expect(file(r, target)?.reason).toContain("due by 2024-07-19T03:15:00.000Z");
        expect(r.gaps[0]!.reason).toContain(`chain truncated after its newest digest ${digests[1]}`);
      }
    },
  );

  it("reports a chain that stops while its sibling goes on as truncated, even with no file left to show it", async () => {
    const { bucket, ecsDigests } = withEcs();
    const dir = write(bucket);
    removeDigest(dir, ecsDigests[2]!);
    // The ECS file of 02:30 is gone too: only the sibling chain shows that ECS's 03:00 digest is missing.
    const { ecsFiles } = withEcs();
    rmSync(path.join(dir, ...ecsFiles[2]!.split("/")));
    const r = await runAt(["verify", dir]);
    expect(r.gaps).toEqual([
      expect.objectContaining({
        chain: ECS_CHAIN,
        from: "2024-07-19T02:00:00.000Z",
        to: "2024-07-19T03:00:00.000Z",
        reason: expect.stringContaining(`sibling chain ${IAM_CHAIN} goes on`),
      }),
    ]);
    expect(r.exitCode).toBe(3);
  });

  it("marks the files of a chain whose digests are all gone unlisted, when its sibling chain goes on past their due time", async () => {
    const { bucket, ecsDigests, ecsFiles } = withEcs();
    const dir = write(bucket);
    for (const d of ecsDigests) removeDigest(dir, d);
    const r = await runAt(["verify", dir], t("2024-07-19T03:16:00Z"));
    // 00:30 and 01:30 were due by 01:45 and 02:45; the IAM chain went on to 03:00. 02:30 is due only at 03:45.
    expect(ecsFiles.map((f) => file(r, f)?.integrity)).toEqual(["unlisted", "unlisted", "unverified"]);
    expect(r.gaps.every((g) => g.chain === ECS_CHAIN)).toBe(true);
    expect(r.gaps.length).toBeGreaterThan(0);
    expect(r.exitCode).toBe(3);
  });

  it("reports each of two consecutive missing digests as its own one-hour gap", async () => {
    const bucket = new CtsBucket(testKeys().privateKey, "bucket");
    const digests = bucket.addDigests({
      service: "IAM",
      from: t("2024-07-19T00:00:00Z"),
      to: t("2024-07-19T04:00:00Z"),
    });
    const dir = write(bucket);
    removeDigest(dir, digests[1]!);
    removeDigest(dir, digests[2]!);
    const r = await runAt(["verify", dir], t("2024-07-19T04:10:00Z"));
    expect(r.gaps.map((g) => [g.from, g.to])).toEqual([
      ["2024-07-19T01:00:00.000Z", "2024-07-19T02:00:00.000Z"],
      ["2024-07-19T02:00:00.000Z", "2024-07-19T03:00:00.000Z"],
    ]);
    expect(digest(r, digests[2]!)?.status).toBe("missing");
    expect(r.exitCode).toBe(3);
  });

  it("does not let a digest of another chain vouch for a file its own chain does not list", async () => {
    const { bucket, digests } = withEcs();
    // An ECS file uploaded after the ECS digests were made: the ECS chain, which covers its hour, does not list it.
    const stray = bucket.addTraceFile({
      service: "ECS",
      uploadTime: t("2024-07-19T02:45:00Z"),
      traces: [
        makeTrace({
          traceName: "deleteServer",
          sourceIp: "192.0.2.66",
          time: t("2024-07-19T02:44:00Z"),
          serviceType: "ECS",
        }),
      ],
    });
    resign(bucket, digests[2]!, (body) => {
      (body.log_files as unknown[]).push({
        bucket: "bucket",
        object: stray,
        log_hash_value: md5Hex(bucket.objects.get(stray)!),
        log_hash_algorithm: "MD5",
      });
    });
    const r = await runAt(["verify", write(bucket)]);
    expect(digest(r, digests[2]!)?.status).toBe("valid");
    expect(file(r, stray)).toMatchObject({
      integrity: "unlisted",
      reason: expect.stringContaining("another chain"),
    });
    expect(r.exitCode).toBe(3);
  });

  it("does not let a listing of an object in another bucket vouch for the object of that name here", async () => {
    const { bucket, digests, files } = baseline();
    resign(bucket, digests[2]!, (body) => {
      const listed = body.log_files as Array<Record<string, unknown>>;
      for (const f of listed) f.bucket = "some-other-bucket";
    });
    const r = await runAt(["verify", write(bucket)]);
    expect(digest(r, digests[2]!)?.status).toBe("valid");
    expect(file(r, files[4]!)?.integrity).toBe("unlisted");
    expect(r.exitCode).toBe(3);
  });

  it("prints what was requested and what was found, as validate-logs does", async () => {
    const { bucket } = baseline();
    const r = await runAt([
      "verify",
      write(bucket),
      "--since",
      "2024-07-18T22:00:00Z",
      "--until",
      "2024-07-19T03:30:00Z",
    ]);
    const text = formatText(r);
    expect(text).toContain("Results requested for 2024-07-18T22:00:00.000Z to 2024-07-19T03:30:00.000Z\n");
    expect(text).toContain("Results found for 2024-07-19T00:00:00.000Z to 2024-07-19T03:00:00.000Z\n");
  });
});

describe("digest_bucket (OBS)", () => {
  let s3: S3TestServer;
  beforeAll(async () => {
    s3 = await S3TestServer.start(["cts-copy", "cts-live"]);
  });
  afterAll(async () => {
    await s3.stop();
  });

  it.each([
    ["the bucket it names", "cts-live", "valid", 0],
    ["another bucket than it names", "cts-copy", "moved", 3],
  ])("checks a digest read from %s", async (_name, readFrom, status, code) => {
    const bucket = new CtsBucket(testKeys().privateKey, "cts-live");
    const digests = bucket.addDigests({
      service: "IAM",
      from: t("2024-07-19T00:00:00Z"),
      to: t("2024-07-19T01:00:00Z"),
    });
    await s3.seed(readFrom, bucket);
    const config = configFor(["verify", `obs://${readFrom}`], {
      OBS_ENDPOINT: s3.endpoint,
      HUAWEICLOUD_SDK_AK: S3_CREDENTIALS.accessKeyId,
      HUAWEICLOUD_SDK_SK: S3_CREDENTIALS.secretAccessKey,
    });
    const source = new ObsSource(`obs://${readFrom}`, { endpoint: s3.endpoint, ...S3_CREDENTIALS });
    const r = await run(config, { sources: [source], clock: () => t("2024-07-19T01:10:00Z") });
    expect(digest(r, digests[0]!)).toMatchObject({ status });
    if (status === "moved") expect(digest(r, digests[0]!)?.reason).toContain("digest_bucket says cts-live");
    expect(r.exitCode).toBe(code);
  });
});
