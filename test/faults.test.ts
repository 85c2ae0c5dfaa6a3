/**
 * Fault injection: corrupt input over local and OBS sources, server faults, state-store failures and signals.
 * The invariants of DESIGN "Reliability rules" are asserted for every case: every listed object is in the report
 * exactly once (scanned, skipped with a reason, or failed with an error that names the cause), alerts read
 * before a failure are reported and marked, exit code 1 whenever something failed, and no secret in any output.
 */
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../src/report/types.js";
import { CtsBucket, makeTrace } from "./support/ctsBucket.js";
import { cliPath as cli, runCli, type CliResult } from "./support/cli.js";
import { ledgerObjectCount } from "./support/ledger.js";
import { tempDir, testKeys } from "./support/harness.js";
import { S3TestServer } from "./support/s3Server.js";
import { SmnTestServer } from "./support/smnServer.js";

const BUCKET = "faults";
const SK = "faultSecretKeyThatMustNeverBePrinted000";
const TOKEN = "faultSecurityTokenThatMustNeverBePrinted";
// s3rver accepts only its own access key; the secret key and the token are what must never be printed.
const AK = "S3RVER";
const t = (iso: string) => new Date(iso);
const IAM = "CloudTraces/ap-southeast-1/2024/07/19/system/IAM";
const name = (minute: string, rand: string) =>
  `${IAM}/cts_CloudTrace_ap-southeast-1_2024-07-19T01-${minute}-00Z_${rand}.json.gz`;

let s3: S3TestServer;
let smn: SmnTestServer;
let dir: string;
let pem: string;
let bucket: CtsBucket;
let expected: Map<string, { status: string; error?: RegExp; traces?: number }>;

/** Every corrupt-input case in one bucket, with what the report must say of each object. */
function corruptBucket(): CtsBucket {
  const b = new CtsBucket(testKeys().privateKey, BUCKET);
  expected = new Map();
  const login = (ip: string, minute: string) =>
    makeTrace({ traceName: "login", sourceIp: ip, time: t(`2024-07-19T01:${minute}:00Z`), user: "mallory" });
  const good = b.addTraceFile({
    uploadTime: t("2024-07-19T01:00:00Z"),
    traces: [login("203.0.113.1", "00")],
  });
  expected.set(good, { status: "scanned", traces: 1 });

  const many = Array.from({ length: 400 }, (_, i) => login(i === 0 ? "203.0.113.2" : "192.0.2.1", "01"));
  const whole = gzipSync(Buffer.from(JSON.stringify(many)));
  b.put(name("01", "aaaaaaaaaaaaaaa1"), whole.subarray(0, Math.floor(whole.length * 0.7)));
  expected.set(name("01", "aaaaaaaaaaaaaaa1"), { status: "failed", error: /gzip|truncated/i });

  b.put(
    name("02", "aaaaaaaaaaaaaaa2"),
    gzipSync(Buffer.from('[{"trace_name": "login", "source_ip": "203.0.113.3"}, {"trace_name": ')),
  );
  expected.set(name("02", "aaaaaaaaaaaaaaa2"), { status: "failed", error: /malformed JSON|truncated/ });

  // A valid file with a second gzip member appended: the smuggled login must not pass unnoticed.
  const first = gzipSync(Buffer.from(JSON.stringify([login("192.0.2.9", "03")])));
  const second = gzipSync(Buffer.from(JSON.stringify([login("203.0.113.4", "03")])));
  b.put(name("03", "aaaaaaaaaaaaaaa3"), Buffer.concat([first, second]));
  expected.set(name("03", "aaaaaaaaaaaaaaa3"), { status: "failed", error: /more than one gzip member/ });

  b.put(name("04", "aaaaaaaaaaaaaaa4"), Buffer.from("PK\u0003\u0004 this is a zip, not gzip"));
  expected.set(name("04", "aaaaaaaaaaaaaaa4"), { status: "failed", error: /not JSON|JSON/ });

  b.put(name("05", "aaaaaaaaaaaaaaa5"), Buffer.alloc(0));
  expected.set(name("05", "aaaaaaaaaaaaaaa5"), { status: "failed", error: /empty/ });

  b.put(name("06", "aaaaaaaaaaaaaaa6"), gzipSync(Buffer.from("[]")));
  expected.set(name("06", "aaaaaaaaaaaaaaa6"), { status: "scanned", traces: 0 });

  // One huge string value (8 MB) in a trace that is not a login, then a login.
  const huge = [
    makeTrace({
      traceName: "createUser",
      sourceIp: "192.0.2.1",
      time: t("2024-07-19T01:07:00Z"),
      extra: { message: "x".repeat(8 << 20) },
    }),
    login("203.0.113.7", "07"),
  ];
  b.put(name("07", "aaaaaaaaaaaaaaa7"), gzipSync(Buffer.from(JSON.stringify(huge))));
  expected.set(name("07", "aaaaaaaaaaaaaaa7"), { status: "scanned", traces: 2 });

  b.put(name("08", "aaaaaaaaaaaaaaa8"), gzipSync(Buffer.from('{"hello": "world"}')));
  expected.set(name("08", "aaaaaaaaaaaaaaa8"), { status: "failed", error: /not a trace file/ });

  // Traces with missing fields: no source IP is an alert of its own kind; no trace name is not audited.
  b.put(
    name("09", "aaaaaaaaaaaaaaa9"),
    gzipSync(
      Buffer.from(
        JSON.stringify([{ trace_name: "login", trace_id: "no-ip" }, { source_ip: "203.0.113.9" }, {}]),
      ),
    ),
  );
  expected.set(name("09", "aaaaaaaaaaaaaaa9"), { status: "scanned", traces: 3 });

  b.put("CloudTraces/README.txt", Buffer.from("not a trace"));
  expected.set("CloudTraces/README.txt", { status: "skipped" });
  b.put("cts-audit-state/objects/x.json", Buffer.from("{}"));
  expected.set("cts-audit-state/objects/x.json", { status: "skipped" });

  const digest =
    "CloudTraces/ap-southeast-1/2024/07/19/system/Digest/IAM/cts_CloudTrace-Digest_ap-southeast-1_2024-07-19T02-00-00Z.json.gz";
  b.put(digest, gzipSync(Buffer.from('{"digest_object": "broken", "log_files": "nope"}')), {
    signature: "00",
  });
  expected.set(digest, { status: "scanned" });
  return b;
}

beforeAll(async () => {
  s3 = await S3TestServer.start([BUCKET]);
  smn = await SmnTestServer.start();
  smn.allow(AK, SK, TOKEN);
  smn.addTopic("alerts");
  bucket = corruptBucket();
  await s3.seed(BUCKET, bucket);
  dir = tempDir();
  bucket.writeTo(dir);
  pem = path.join(tempDir(), "key.pem");
  writeFileSync(pem, testKeys().publicKey.export({ type: "spki", format: "pem" }));
}, 60_000);
afterAll(async () => {
  await s3.stop();
  await smn.stop();
});

const env = () => ({
  PATH: process.env.PATH ?? "",
  OBS_ENDPOINT: s3.endpoint,
  SMN_ENDPOINT: smn.endpoint,
  HUAWEICLOUD_SDK_AK: AK,
  HUAWEICLOUD_SDK_SK: SK,
  HUAWEICLOUD_SDK_SECURITY_TOKEN: TOKEN,
  HUAWEICLOUD_SDK_PROJECT_ID: smn.projectId,
  SMN_Topic: "alerts",
});

function cts(args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { ...env(), ...extra });
}

/** A scan of `source` with a JSON report, the test key and the given notifier, then `extra`. */
const jsonScan = (source: string, notify: string, ...extra: string[]) => [
  "scan",
  source,
  "--public-key",
  pem,
  "--format",
  "json",
  "--notify",
  notify,
  ...extra,
];

/** A scan of `source` with the test key and allowlist, JSON report, no notification. */
const scanArgs = (source: string) => jsonScan(source, "none", "--allow", "192.0.2.0/24");

function expectNoSecrets(...outputs: string[]): void {
  for (const out of outputs)
    for (const secret of [SK, TOKEN, "Authorization", "SDK-HMAC-SHA256"]) expect(out).not.toContain(secret);
}

/** The invariants, for the corrupt-input bucket. */
function checkCorruptReport(report: Report): void {
  const keys = report.files.map((f) => f.object);
  expect(new Set(keys).size).toBe(keys.length);
  expect([...keys].sort()).toEqual([...bucket.objects.keys()].sort());
  for (const f of report.files) {
    const want = expected.get(f.object)!;
    expect({ object: f.object, status: f.status }).toEqual({ object: f.object, status: want.status });
    if (want.error) expect(f.error).toMatch(want.error);
    if (want.traces !== undefined) expect(f.traces).toBe(want.traces);
    if (f.status === "skipped") expect(f.reason).toBeTruthy();
    if (f.status === "failed") expect(f.error).toBeTruthy();
  }
  // Alerts read before a failure stand, marked with it; the smuggled member's login is reported too.
  const byIp = new Map(report.alerts.map((a) => [a.sourceIp, a]));
  expect(byIp.get("203.0.113.2")?.fileError).toMatch(/gzip|truncated/i);
  expect(byIp.get("203.0.113.4")?.fileError).toMatch(/more than one gzip member/);
  expect(byIp.get("203.0.113.7")?.fileError).toBeUndefined();
  expect(report.alerts.find((a) => a.traceId === "no-ip")?.reason).toBe("missing-source-ip");
  expect(report.digests[0]).toMatchObject({ status: "invalid-format" });
  expect(report.exitCode).toBe(1);
}

describe("corrupt input", () => {
  it("over a local copy: every object accounted for, each failure named, exit 1", async () => {
    const r = await cts([...scanArgs(dir)]);
    expect(r.code).toBe(1);
    checkCorruptReport(JSON.parse(r.stdout) as Report);
  });

  it("over OBS: the same report", async () => {
    const r = await cts([...scanArgs(`obs://${BUCKET}`)]);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    checkCorruptReport(report);
    const local = JSON.parse((await cts([...scanArgs(dir)])).stdout) as Report;
    const strip = (x: Report) => ({
      ...x,
      startedAt: "",
      finishedAt: "",
      sources: [],
      files: x.files.map(({ bytes: _b, ...f }) => f),
    });
    expect(strip(report)).toEqual(strip(local));
  });

  it("caps decompressed bytes per object, naming the option", async () => {
    const r = await cts(jsonScan(dir, "none", "--max-decompressed-bytes", "1M"));
    const report = JSON.parse(r.stdout) as Report;
    const huge = report.files.find((f) => f.object === name("07", "aaaaaaaaaaaaaaa7"))!;
    expect(huge).toMatchObject({
      status: "failed",
      error: expect.stringContaining("--max-decompressed-bytes"),
    });
    expect(r.code).toBe(1);
  });
});

describe("server faults", () => {
  it("rides out an OBS 503 burst and a slow answer past the timeout", async () => {
    s3.inject({ kind: "status", status: 503, method: "GET", times: 4 });
    s3.inject({ kind: "delay", method: "GET", match: "aaaaaaaaaaaaaaa7", delayMs: 2500, times: 1 });
    const r = await cts([...scanArgs(`obs://${BUCKET}`), "--timeout", "1"]);
    checkCorruptReport(JSON.parse(r.stdout) as Report);
    s3.clearFaults();
  });

  it("reports a state store that cannot be written, still sends the digest, exits 1 and prints no secret", async () => {
    const blocked = path.join(tempDir(), "not-a-dir");
    writeFileSync(blocked, "a file where a directory should be");
    const state = path.join(blocked, "ledger.json");
    const before = smn.published.length;
    const oneFile = path.join(dir, ...[...bucket.objects.keys()][0]!.split("/"));
    const r = await cts(jsonScan(oneFile, "smn", "--state", state));
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.errors.join("\n")).toMatch(
      new RegExp(`state store ${state.replace(/[.]/g, "\\.")}: .* failed`),
    );
    expect(smn.published.length - before).toBe(1);
    expectNoSecrets(r.stdout, r.stderr);
  });

  it("keeps the digest when SMN keeps failing, names the file, and prints no secret", async () => {
    smn.inject({ kind: "status", status: 500, code: "SMN.0018", times: 5 });
    const unsent = tempDir();
    const r = await cts(jsonScan(dir, "smn", "--unsent-dir", unsent));
    expect(r.code).toBe(1);
    const n = (JSON.parse(r.stdout) as Report).notifications[0]!;
    expect(n.error).toMatch(/SMN answered 500 SMN\.0018/);
    expect(existsSync(n.savedTo!)).toBe(true);
    expect(readFileSync(n.savedTo!, "utf8")).toContain("203.0.113.7");
    expectNoSecrets(r.stdout, r.stderr, readFileSync(n.savedTo!, "utf8"));
  });
});

describe("download faults", () => {
  it("fails a file whose download breaks on every attempt, and still reports the alerts read before the break", async () => {
    const broken = new CtsBucket(testKeys().privateKey, BUCKET);
    const at = t("2024-07-21T03:00:00Z");
    const key = broken.addTraceFile({
      uploadTime: at,
      traces: [
        makeTrace({ traceName: "login", sourceIp: "203.0.113.50", time: at, user: "eve" }),
        // Enough other traces (distinct ids and users) that the break falls well past the login.
        ...Array.from({ length: 3_000 }, (_, i) =>
          makeTrace({ traceName: "createUser", sourceIp: "192.0.2.1", time: at, user: `user${i}` }),
        ),
      ],
    });
    await s3.seed(BUCKET, broken);
    s3.inject({
      kind: "reset",
      method: "GET",
      match: "2024-07-21T03-00-00Z",
      afterBytes: 100_000,
      times: 100,
    });
    const r = await cts(jsonScan(`obs://${BUCKET}/CloudTraces/ap-southeast-1/2024/07/21/`, "none"));
    s3.clearFaults();
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    const file = report.files.find((f) => f.object === key)!;
    expect(file.status).toBe("failed");
    expect(file.error).toMatch(/reading the object failed/);
    expect(file.traces).toBeGreaterThan(0);
    const alert = report.alerts.find((a) => a.sourceIp === "203.0.113.50");
    expect(alert?.fileError).toBe(file.error);
    expect(r.stderr).toMatch(/reading it again \(attempt 3\)/);
  }, 30_000);
});

describe("process faults", () => {
  it("stops gracefully on SIGTERM: state saved, partial report printed, exit code 143; a rerun finishes", async () => {
    const big = new CtsBucket(testKeys().privateKey, BUCKET);
    for (let i = 0; i < 30; i++) {
      big.addTraceFile({
        uploadTime: new Date(Date.UTC(2024, 6, 20, 0, i)),
        traces: [
          makeTrace({
            traceName: "login",
            sourceIp: `203.0.113.${100 + i}`,
            time: new Date(Date.UTC(2024, 6, 20, 0, i)),
          }),
        ],
      });
    }
    await s3.seed(BUCKET, big);
    const prefix = `obs://${BUCKET}/CloudTraces/ap-southeast-1/2024/07/20/`;
    const state = path.join(tempDir(), "ledger.json");
    s3.inject({ kind: "delay", method: "GET", match: "2024-07-20T", delayMs: 200, times: 30 });
    const args = jsonScan(prefix, "none", "--state", state);
    const child = spawn(process.execPath, [cli, ...args, "--concurrency", "1"], { env: env() });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    await new Promise((r) => setTimeout(r, 1800));
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => child.once("exit", r));
    s3.clearFaults();
    expect(code).toBe(143);
    const partial = JSON.parse(stdout) as Report;
    const notStarted = partial.files.filter((f) =>
      f.reason?.startsWith("not started: interrupted by SIGTERM"),
    );
    expect(notStarted.length).toBeGreaterThan(0);
    expect(partial.files).toHaveLength(30);
    expect(await ledgerObjectCount(state)).toBe(30 - notStarted.length);
    const rerun = JSON.parse((await cts(args)).stdout) as Report;
    expect(rerun.summary).toMatchObject({ alerts: 30, failed: 0, reused: 30 - notStarted.length });
  }, 30_000);
});

describe("usage", () => {
  it("names a bad --timeout", async () => {
    const r = await cts(["scan", dir, "--timeout", "0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--timeout: "0" must be a number of seconds from 1 to 3600');
  });

  it("fails an unreadable object with its name, and goes on", async () => {
    const copy = tempDir();
    bucket.writeTo(copy);
    const locked = path.join(copy, ...name("06", "aaaaaaaaaaaaaaa6").split("/"));
    chmodSync(locked, 0o000);
    mkdirSync(path.join(copy, "CloudTraces", "empty-folder"));
    const r = await cts(["scan", copy, "--public-key", pem, "--format", "json", "--notify", "none"]);
    const report = JSON.parse(r.stdout) as Report;
    const f = report.files.find((x) => x.object === name("06", "aaaaaaaaaaaaaaa6"))!;
    // Root reads any file regardless of mode; anyone else gets a failure naming the object.
    if (process.getuid?.() === 0) expect(f.status).toBe("scanned");
    else
      expect(f).toMatchObject({
        status: "failed",
        error: expect.stringContaining(name("06", "aaaaaaaaaaaaaaa6")),
      });
    expect(report.files).toHaveLength(bucket.objects.size);
  });
});
