/**
 * The streamed report writers give the same report as one built in memory: json with the same schema and key
 * order, ndjson with the same records, text with the same lines.
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { JsonWriter } from "../../src/report/JsonWriter.js";
import { NdjsonWriter } from "../../src/report/NdjsonWriter.js";
import { formatText, TextWriter } from "../../src/report/TextWriter.js";
import type { Report, ReportWriter } from "../../src/report/types.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { runLocal, tempDir, testKeys } from "../support/harness.js";

const t = (iso: string) => new Date(iso);
const fixedClock = () => t("2024-07-20T00:00:00Z");

function bucketDir(): string {
  const bucket = new CtsBucket(testKeys().privateKey, "bucket");
  for (const [i, hour] of ["22", "23"].entries()) {
    bucket.addTraceFile({
      uploadTime: t(`2024-07-18T${hour}:10:00Z`),
      traces: [
        makeTrace({
          traceName: "login",
          sourceIp: `203.0.113.${i}`,
          time: t(`2024-07-18T${hour}:05:00Z`),
          user: 'a"b\u2028c',
        }),
      ],
    });
  }
  bucket.addTraceFile({
    uploadTime: t("2024-07-19T00:10:00Z"),
    traces: [makeTrace({ traceName: "logout", sourceIp: "198.51.100.1", time: t("2024-07-19T00:01:00Z") })],
  });
  bucket.addDigests({ service: "IAM", from: t("2024-07-18T22:00:00Z"), to: t("2024-07-19T01:00:00Z") });
  bucket.put("CloudTraces/README.txt", Buffer.from("not a trace"));
  // A file no digest lists though one covers its hour: a finding.
  bucket.put(
    "CloudTraces/ap-southeast-1/2024/07/19/system/IAM/x_CloudTrace_ap-southeast-1_2024-07-19T00-30-00Z_00000000000000ff.json",
    Buffer.from("[]"),
  );
  const dir = tempDir();
  bucket.writeTo(dir);
  return dir;
}

async function capture(
  make: (out: PassThrough) => ReportWriter,
  dir: string,
): Promise<{ text: string; report: Report }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on("data", (c: Buffer) => chunks.push(c));
  const report = await runLocal(["scan", dir, "--notify", "none"], { report: make(out), clock: fixedClock });
  return { text: Buffer.concat(chunks).toString("utf8"), report };
}

describe("streamed report writers", () => {
  it("json: the document a whole report gives, key for key and in the same key order", async () => {
    const dir = bucketDir();
    const whole = await runLocal(["scan", dir, "--notify", "none"], { clock: fixedClock });
    expect(whole.files.length).toBeGreaterThan(5);
    const { text, report } = await capture((out) => new JsonWriter(out), dir);
    const parsed = JSON.parse(text) as Report;
    expect(parsed).toEqual(JSON.parse(JSON.stringify(whole)));
    expect(Object.keys(parsed)).toEqual(Object.keys(whole));
    // Streamed: the returned report does not hold the records.
    expect(report.files).toEqual([]);
  });

  it("ndjson: every record of the whole report, one a line, the summary last", async () => {
    const dir = bucketDir();
    const whole = await runLocal(["scan", dir, "--notify", "none"], { clock: fixedClock });
    const { text } = await capture((out) => new NdjsonWriter(out), dir);
    const lines = text
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string } & Record<string, unknown>);
    const of = (type: string) => lines.filter((l) => l.type === type).map(({ type: _t, ...rest }) => rest);
    expect(of("file")).toEqual(JSON.parse(JSON.stringify(whole.files)));
    expect(of("digest")).toEqual(JSON.parse(JSON.stringify(whole.digests)));
    expect(of("gap")).toEqual(JSON.parse(JSON.stringify(whole.gaps)));
    expect(of("alert")).toEqual(JSON.parse(JSON.stringify(whole.alerts)));
    expect(lines.at(-1)).toMatchObject({ type: "summary", ...whole.summary, exitCode: whole.exitCode });
  });

  it("text: the lines of the whole report's text", async () => {
    const dir = bucketDir();
    const whole = await runLocal(["scan", dir, "--notify", "none"], { clock: fixedClock });
    const { text } = await capture((out) => new TextWriter(out), dir);
    expect(text).toBe(formatText(whole));
    expect(text).toContain("INVALID: unlisted");
  });

  it("text: lists the first 1,000 integrity findings and failed objects and counts the rest", async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    const w = new TextWriter(out);
    await w.begin({
      version: 1,
      command: "scan",
      sources: ["x"],
      startedAt: "s",
      window: {},
      verify: "warn",
    });
    const n = 2_500;
    for (let i = 0; i < n; i++) {
      await w.file({
        object: `missing-${i}`,
        kind: "trace",
        status: "scanned",
        traces: 0,
        integrity: "missing",
        error: "",
      });
      await w.file({
        object: `bad-${i}`,
        kind: "trace",
        status: "failed",
        traces: 0,
        integrity: "unverified",
        error: `corrupt ${i}`,
      });
    }
    await w.digest({
      object: "d",
      chain: "c",
      status: "invalid-signature",
      reason: "signature does not verify",
    });
    await w.end({
      finishedAt: "f",
      summary: { objects: 2 * n, failed: n } as Report["summary"],
      alerts: [],
      notifications: [],
      errors: [],
      exitCode: 1,
    });
    const text = Buffer.concat(chunks).toString("utf8");
    const findings = text.split("\n").filter((l) => l.includes("INVALID:"));
    expect(findings).toHaveLength(1000);
    expect(findings[0]).toContain("missing-0 ");
    expect(text).toContain(
      `... and ${n + 1 - 1000} more integrity findings: --format json or ndjson lists every record`,
    );
    const failed = text.split("\n").filter((l) => /^ {2}bad-\d+: corrupt/.test(l));
    expect(failed).toHaveLength(1000);
    expect(failed.at(-1)).toBe("  bad-999: corrupt 999");
    expect(text).toContain(
      `... and ${n - 1000} more failed objects: --format json or ndjson lists every one`,
    );
  });

  it("json: a report of 20,000 files parses whole, with nothing held in memory for them", async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    const w = new JsonWriter(out);
    await w.begin({
      version: 1,
      command: "scan",
      sources: ["x"],
      startedAt: "s",
      window: {},
      verify: "warn",
    });
    for (let i = 0; i < 20_000; i++)
      await w.file({
        object: `k${i}\u00e9`,
        kind: "trace",
        status: "scanned",
        traces: 1,
        integrity: "valid",
        error: "",
      });
    await w.end({
      finishedAt: "f",
      summary: {} as Report["summary"],
      alerts: [],
      notifications: [],
      errors: [],
      exitCode: 0,
    });
    const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Report;
    expect(parsed.files).toHaveLength(20_000);
    expect(parsed.files[19_999]!.object).toBe("k19999\u00e9");
    expect(parsed.digests).toEqual([]);
  });

  it("json: 20,000 alerts in order, written in a few large writes, not one a record", async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on("data", (c: Buffer) => chunks.push(c));
    const w = new JsonWriter(out);
    await w.begin({
      version: 1,
      command: "scan",
      sources: ["x"],
      startedAt: "s",
      window: {},
      verify: "warn",
    });
    const alerts = Array.from({ length: 20_000 }, (_, i) => ({
      traceId: `t${i}`,
      traceName: "login",
      user: `u\u00e9${i}`,
      userId: "",
      domain: "acme",
      sourceIp: "203.0.113.7",
      time: "2024-07-18T22:05:00.000Z",
      region: "ap-southeast-1",
      object: `k${i}`,
      integrity: "valid" as const,
      reason: "not-allowlisted" as const,
    }));
    await w.end({
      finishedAt: "f",
      summary: {} as Report["summary"],
      alerts,
      notifications: [],
      errors: [],
      exitCode: 0,
    });
    const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Report;
    expect(parsed.alerts).toEqual(alerts);
    // About 2 MB of alerts: a write a record would be 20,000 writes (a system call each on stdout).
    expect(chunks.length).toBeLessThan(200);
  });
});
