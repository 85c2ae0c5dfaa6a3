/**
 * The command line against real local servers: s3rver (through esdk-obs-nodejs) seeded with the sample bucket,
 * and the SMN endpoint that verifies AK/SK signatures.
 */
import { listObjects } from "../src/sources/types.js";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Report } from "../src/report/types.js";
import { CtsBucket } from "./support/ctsBucket.js";
import { root, runCli, type CliResult } from "./support/cli.js";
import { tempDir } from "./support/harness.js";
import type { S3TestServer } from "./support/s3Server.js";
import type { SmnTestServer } from "./support/smnServer.js";
import { useCloudServers } from "./support/cloudServers.js";
import { LocalSource } from "../src/sources/LocalSource.js";

const sample = path.join(root, "fixtures", "sample-bucket");
const common = [
  "--public-key",
  path.join(root, "fixtures", "keys", "test-public.pem"),
  "--allow-file",
  path.join(root, "fixtures", "sample-allowlist.txt"),
];
const UNAUTHORIZED = ["203.0.113.7", "198.51.100.23", "198.51.100.70", "2001:db8:bad::17"];
const SK = "cloudSecretKeyForTests000000000000000000";
const TOKEN = "securityTokenForTests";

let s3: S3TestServer;
let smn: SmnTestServer;
let urn: string;

/** Copies the sample bucket (objects and sidecar metadata) into s3rver, as CTS would have written it. */
async function seedSample(): Promise<void> {
  const local = await LocalSource.open(sample);
  const bucket = new CtsBucket(undefined as never);
  for await (const o of listObjects(local)) {
    const chunks: Buffer[] = [];
    for await (const c of await local.open(o.key)) chunks.push(c as Buffer);
    const meta = await local.metadata(o.key);
    bucket.put(o.key, Buffer.concat(chunks), Object.keys(meta).length ? meta : undefined);
  }
  await s3.seed("acme-cts-audit", bucket);
}

const { published } = useCloudServers(["acme-cts-audit"], async (servers) => {
  ({ s3, smn } = servers);
  smn.allow("S3RVER", SK, TOKEN);
  urn = smn.addTopic("cts-login-alerts");
  await seedSample();
});

function cts(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, {
    OBS_ENDPOINT: s3.endpoint,
    SMN_ENDPOINT: smn.endpoint,
    HUAWEICLOUD_SDK_AK: "S3RVER",
    HUAWEICLOUD_SDK_SK: SK,
    HUAWEICLOUD_SDK_SECURITY_TOKEN: TOKEN,
    HUAWEICLOUD_SDK_PROJECT_ID: smn.projectId,
    SMN_Topic: "cts-login-alerts",
    ...env,
  });
}

/** A JSON scan of the seeded bucket over OBS, with the given notifier. */
const remoteJson = (notify: string) => [
  "scan",
  "obs://acme-cts-audit/CloudTraces/",
  ...common,
  "--format",
  "json",
  "--notify",
  notify,
];

const comparable = (r: Report) => ({ ...r, startedAt: "", finishedAt: "", sources: [], notifications: [] });

describe("scan obs:// with SMN notification", () => {
  it("gives the same report as the local copy and publishes one signed digest naming every unauthorized IP", async () => {
    const local = JSON.parse((await cts(["scan", sample, ...common, "--format", "json"])).stdout) as Report;
    const r = await cts(remoteJson("smn"));
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const remote = JSON.parse(r.stdout) as Report;
    // Same verdicts and alerts; only the byte sizes of skipped objects come from the listing instead of disk.
    expect(comparable(remote)).toEqual(comparable(local));
    const got = published();
    expect(got).toHaveLength(1);
    expect(got[0]!.topicUrn).toBe(urn);
    const text = (JSON.parse(got[0]!.body.message_structure!) as { default: string }).default;
    for (const ip of UNAUTHORIZED) expect(text).toContain(`- ${ip} (documentation range)  `);
    expect(remote.notifications).toEqual([{ sink: "smn", parts: 1, messageIds: [got[0]!.messageId] }]);
    // The SMN endpoint accepted it: the signature, token and project id were right.
    expect(smn.rejected).toEqual([]);
  });

  it("downloads only digests and the files it parses (IAM, and CTS for audit-tamper): ECS files are verified by their listed ETag", async () => {
    const start = s3.requests.length;
    const r = await cts(remoteJson("none"));
    const report = JSON.parse(r.stdout) as Report;
    const gets = s3.requests
      .slice(start)
      .filter((q) => q.method === "GET" && /^\/acme-cts-audit\/.+/.test(q.url.split("?")[0]!));
    const iam = report.files.filter(
      (f) => f.kind === "trace" && (f.object.includes("/IAM/") || f.object.includes("/CTS/")),
    ).length;
    const digests = report.summary.digestFiles;
    expect(gets).toHaveLength(iam + digests);
    expect(gets.some((q) => q.url.includes("/system/ECS/"))).toBe(false);
    const ecs = report.files.filter((f) => f.object.includes("/system/ECS/"));
    expect(ecs.every((f) => f.integrity === "valid")).toBe(true);
  });

  it("retries OBS 503s and ends with the same report", async () => {
    s3.inject({ kind: "status", status: 503, method: "GET", match: "/acme-cts-audit?", times: 2 });
    s3.inject({ kind: "status", status: 503, method: "GET", match: "/IAM/", times: 3 });
    const r = await cts(remoteJson("none"));
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Report).summary).toMatchObject({
      alerts: 15,
      failed: 0,
      // The sample's newest file, whose digest is long overdue, and its chain's one-hour gap (see cli.test.ts).
      integrityViolations: 2,
    });
  });

  it("reads an object again after a connection reset mid-object, counting no alert twice", async () => {
    const target = "2024-07-19T00-44-12Z"; // holds the IPv6 login and the logout
    s3.inject({ kind: "reset", method: "GET", match: target, afterBytes: 300, times: 1 });
    const r = await cts(remoteJson("smn"));
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.summary).toMatchObject({ alerts: 15, failed: 0 });
    expect(report.alerts.filter((a) => a.sourceIp === "2001:db8:bad::17")).toHaveLength(1);
    const resets = s3.requests.filter((q) => q.url.includes(target) && q.method === "GET");
    expect(resets.length).toBeGreaterThanOrEqual(2);
    expect(published()).toHaveLength(1);
  });

  it("retries SMN 429 and publishes once", async () => {
    smn.inject({ kind: "status", status: 429, code: "SMN.0429", times: 2 });
    const r = await cts([
      "scan",
      "obs://acme-cts-audit/CloudTraces/",
      ...common,
      "--notify",
      "smn",
      "--smn-topic",
      urn,
    ]);
    expect(r.code).toBe(0);
    expect(published()).toHaveLength(1);
    expect(r.stdout).toMatch(/Notification via smn: 1 part\(s\) \[[0-9a-f]{32}\]/);
  });

  it("exits 1 on an unknown topic, explains it, and keeps the digest in a file the report names", async () => {
    const dir = tempDir();
    const r = await cts(
      ["scan", sample, ...common, "--format", "json", "--notify", "smn", "--unsent-dir", dir],
      { SMN_Topic: "no-such-topic" },
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    const n = report.notifications[0]!;
    expect(n.error).toMatch(/topic not found: check SMN_TOPIC_URN or SMN_Topic/);
    expect(n.savedTo).toBeDefined();
    expect(existsSync(n.savedTo!)).toBe(true);
    const saved = readFileSync(n.savedTo!, "utf8");
    for (const ip of UNAUTHORIZED) expect(saved).toContain(ip);
    expect(r.stderr).toContain("topic not found");
    expect(published()).toHaveLength(0);
  });

  it("never prints a secret, whatever fails", async () => {
    // Wrong SK: SMN answers 401 (never retried); the error must not carry any secret.
    const r = await cts(
      ["scan", "obs://acme-cts-audit/CloudTraces/", ...common, "--notify", "smn", "--unsent-dir", tempDir()],
      {
        HUAWEICLOUD_SDK_SK: `${SK}-wrong`,
      },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("authentication failed");
    for (const secret of [SK, TOKEN]) {
      expect(r.stdout).not.toContain(secret);
      expect(r.stderr).not.toContain(secret);
    }
  });

  it("names the missing settings for an obs:// source", async () => {
    const r = await cts(["scan", "obs://acme-cts-audit/"], {
      HUAWEICLOUD_SDK_AK: "",
      HUAWEICLOUD_SDK_SK: "",
      OBS_ENDPOINT: "",
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "obs:// sources: credentials missing, set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK",
    );
    expect(r.stderr).toContain(
      "obs:// sources need an endpoint: set --obs-endpoint, OBS_ENDPOINT, or --region / RegionName",
    );
  });
});
