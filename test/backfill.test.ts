/**
 * The nightly backfill and the replay, through the command line against s3rver and the SMN endpoint: killed with
 * kill -9 and resumed, it ends with the same report and exactly one digest; replayed twice with one state store,
 * the second run sends nothing.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { Report } from "../src/report/types.js";
import { CtsBucket, makeTrace } from "./support/ctsBucket.js";
import { cliPath as cli, root, runCli, type CliResult } from "./support/cli.js";
import { tempDir, testKeys } from "./support/harness.js";
import { ledgerObjectCount } from "./support/ledger.js";
import type { S3TestServer } from "./support/s3Server.js";
import type { SmnTestServer } from "./support/smnServer.js";
import { useCloudServers } from "./support/cloudServers.js";

const sample = path.join(root, "fixtures", "sample-bucket");
const BUCKET = "backfill";
const FILES = 40;
let s3: S3TestServer;
let smn: SmnTestServer;
let env: Record<string, string>;
let pem: string;

const { published } = useCloudServers([BUCKET], async (servers) => {
  ({ s3, smn } = servers);
  smn.allow("S3RVER", "backfillSecret");
  smn.addTopic("cts-login-alerts");
  const bucket = new CtsBucket(testKeys().privateKey, BUCKET);
  for (let i = 0; i < FILES; i++) {
    const at = new Date(Date.UTC(2024, 6, 19, 0, 0) + i * 6 * 60_000);
    bucket.addTraceFile({
      uploadTime: at,
      traces: [
        makeTrace({
          traceName: "login",
          sourceIp: `203.0.113.${i}`,
          time: new Date(at.getTime() - 60_000),
          user: `user${i}`,
        }),
      ],
    });
  }
  bucket.addDigests({
    service: "IAM",
    from: new Date("2024-07-19T00:00:00Z"),
    to: new Date("2024-07-19T04:00:00Z"),
  });
  await s3.seed(BUCKET, bucket);
  pem = path.join(tempDir(), "key.pem");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(pem, testKeys().publicKey.export({ type: "spki", format: "pem" }));
  env = {
    PATH: process.env.PATH ?? "",
    OBS_ENDPOINT: s3.endpoint,
    SMN_ENDPOINT: smn.endpoint,
    HUAWEICLOUD_SDK_AK: "S3RVER",
    HUAWEICLOUD_SDK_SK: "backfillSecret",
    HUAWEICLOUD_SDK_PROJECT_ID: smn.projectId,
    SMN_Topic: "cts-login-alerts",
  };
});
beforeEach(() => {
  s3.clearFaults();
});

function cts(args: string[]): Promise<CliResult> {
  return runCli(args, env);
}

const comparable = (r: Report) => ({
  ...r,
  startedAt: "",
  finishedAt: "",
  notifications: [],
  summary: { ...r.summary, reused: 0 },
});

describe("backfill", () => {
  it("killed with kill -9 mid-run and started again, ends with the same report and exactly one digest", async () => {
    const args = [
      "scan",
      `obs://${BUCKET}/CloudTraces/`,
      "--public-key",
      pem,
      "--format",
      "json",
      "--concurrency",
      "1",
    ];
    const reference = JSON.parse((await cts([...args, "--notify", "none"])).stdout) as Report;
    expect(reference.summary.alerts).toBe(FILES);

    const state = path.join(tempDir(), "ledger.json");
    // Slow every trace file down so that the kill lands mid-run.
    s3.inject({ kind: "delay", method: "GET", match: "_CloudTrace_", delayMs: 150, times: FILES });
    const child = spawn(process.execPath, [cli, ...args, "--notify", "smn", "--state", state], {
      env,
      stdio: "ignore",
    });
    const deadline = Date.now() + 20_000;
    let done = 0;
    while (Date.now() < deadline) {
      done = await ledgerObjectCount(state).catch(() => 0);
      if (done >= 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    expect(done).toBeGreaterThanOrEqual(5);
    expect(done).toBeLessThan(FILES + 8);
    expect(published().length).toBe(0);
    s3.clearFaults();

    const resumed = await cts([...args, "--notify", "smn", "--state", state]);
    expect(resumed.code).toBe(0);
    const report = JSON.parse(resumed.stdout) as Report;
    expect(report.summary.reused).toBeGreaterThanOrEqual(5);
    expect(comparable(report)).toEqual(comparable(reference));
    const got = published();
    expect(got).toHaveLength(1);
    expect(got[0]!.body.subject).toMatch(new RegExp(`^cts-audit: ${FILES} alerts from ${FILES} source IPs`));

    // And once more: everything is done and sent, nothing goes out.
    const third = JSON.parse((await cts([...args, "--notify", "smn", "--state", state])).stdout) as Report;
    expect(third.summary).toMatchObject({ alerts: FILES, suppressed: FILES, reused: FILES });
    expect(published()).toHaveLength(1);
  }, 60_000);
});

describe("replay", () => {
  const common = [
    "--public-key",
    path.join(root, "fixtures", "keys", "test-public.pem"),
    "--allow-file",
    path.join(root, "fixtures", "sample-allowlist.txt"),
    "--format",
    "json",
    "--notify",
    "smn",
  ];

  it("sends zero messages the second time the same archive is replayed with one state store", async () => {
    const state = path.join(tempDir(), "replay.json");
    const first = JSON.parse((await cts(["scan", sample, ...common, "--state", state])).stdout) as Report;
    expect(first.summary).toMatchObject({ alerts: 15, suppressed: 0 });
    expect(published()).toHaveLength(1);
    const second = await cts(["scan", sample, ...common, "--state", state]);
    expect(second.code).toBe(0);
    const report = JSON.parse(second.stdout) as Report;
    expect(report.summary).toMatchObject({ alerts: 15, suppressed: 15 });
    expect(report.alerts.every((a) => a.suppressed)).toBe(true);
    expect(report.notifications).toEqual([]);
    expect(published()).toHaveLength(1);
  });

  it("with a wider allowlist today, replays send only what is new", async () => {
    const state = path.join(tempDir(), "replay2.json");
    await cts(["scan", sample, ...common, "--state", state, "--allow", "203.0.113.0/24"]);
    expect(published()).toHaveLength(1);
    // Without 203.0.113.0/24 allowed, the 203.0.113.7 alerts are new: only they go out.
    const r = JSON.parse((await cts(["scan", sample, ...common, "--state", state])).stdout) as Report;
    expect(r.summary).toMatchObject({ alerts: 15, suppressed: 11 });
    const got = published();
    expect(got).toHaveLength(2);
    expect(got[1]!.body.subject).toMatch(/^cts-audit: 4 alerts from 1 source IP/);
  });

  it("--dry-run sends nothing and writes no state", async () => {
    const state = path.join(tempDir(), "dry.json");
    const r = JSON.parse(
      (await cts(["scan", sample, ...common, "--state", state, "--dry-run"])).stdout,
    ) as Report;
    expect(r.notifications[0]).toMatchObject({ error: "dry run: not sent" });
    expect(existsSync(state)).toBe(false);
    expect(published()).toHaveLength(0);
  });

  it("keeps alerts of a digest that could not be sent and sends them with the next run", async () => {
    const state = path.join(tempDir(), "unsent.json");
    const unsent = tempDir();
    const failed = await cts([
      "scan",
      sample,
      ...common,
      "--state",
      state,
      "--unsent-dir",
      unsent,
      "--smn-topic",
      "no-such-topic",
    ]);
    expect(failed.code).toBe(1);
    expect(published()).toHaveLength(0);
    const next = JSON.parse((await cts(["scan", sample, ...common, "--state", state])).stdout) as Report;
    expect(next.summary).toMatchObject({ alerts: 15, suppressed: 0 });
    expect(published()).toHaveLength(1);
  });
});
