/**
 * `cts-audit scan obs://... --fan-out <urn> --state obs://...` as users run it (the built command line in a child
 * process) against s3rver, the SMN endpoint and the FunctionGraph endpoint (which runs the handler in child
 * processes): the same report as the same scan without --fan-out, one digest published, progress on stderr; and
 * exit 2 naming --state without an obs:// state.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Report } from "../../src/report/types.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { runCli, type CliResult } from "../support/cli.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { FgTestServer } from "../support/fgServer.js";
import { testKeys } from "../support/harness.js";
import { S3TestServer } from "../support/s3Server.js";
import { SmnTestServer } from "../support/smnServer.js";

const TRAIL = "cli-trail";
const STATE = "cli-state";
const REGIONS = ["ap-southeast-1", "ap-southeast-2", "eu-west-101"];
const AK = "S3RVER"; // s3rver knows this access key only; SMN and FunctionGraph check the signature with SK
const SK = "cliCoordinatorSecretKey000000000000000";
const TOKEN = "cliCoordinatorToken";
let s3: S3TestServer;
let smn: SmnTestServer;
let fg: FgTestServer;
let urn: string;

beforeAll(async () => {
  s3 = await S3TestServer.start([TRAIL, STATE]);
  smn = await SmnTestServer.start();
  smn.allow(AK, SK, TOKEN);
  smn.addTopic("cts-login-alerts");
  urn = `urn:fss:ap-southeast-1:${smn.projectId}:function:default:cts-audit:latest`;
  const bucket = new CtsBucket(testKeys().privateKey, TRAIL);
  for (const [r, region] of REGIONS.entries()) {
    for (let h = 0; h < 4; h++) {
      const at = new Date(Date.UTC(2024, 6, 19, 22 + h, 7 + r));
      bucket.addTraceFile({
        region,
        uploadTime: at,
        service: "IAM",
        traces: [
          makeTrace({
            traceName: "login",
            sourceIp: h % 2 === 0 ? `203.0.113.${r * 10 + h}` : "198.51.100.7",
            time: new Date(at.getTime() - 60_000),
            user: `user-${region}-${h}`,
          }),
        ],
      });
    }
    bucket.addDigests({
      region,
      service: "IAM",
      from: new Date("2024-07-19T22:00:00Z"),
      to: new Date(`2024-07-20T0${r === 2 ? 0 : 2}:00:00Z`), // the last region's chain stops early: a gap
    });
  }
  bucket.put(
    "CloudTraces/ap-southeast-2/2024/07/20/system/IAM/cts_CloudTrace_ap-southeast-2_2024-07-20T01-30-00Z_a1b2c3d4e5f60718.json.gz",
    Buffer.from("not gzip"),
  );
  await s3.seed(TRAIL, bucket);
  fg = await FgTestServer.start({
    projectId: smn.projectId,
    cap: 10,
    env: {
      PATH: process.env.PATH ?? "",
      OBS_ENDPOINT: s3.endpoint,
      FG_AK: "S3RVER",
      FG_SK: "S3RVER",
      FG_TOKEN: "workerToken",
      FG_PROJECT: smn.projectId,
    },
  });
  fg.allow(AK, SK, TOKEN);
}, 60_000);

afterAll(async () => {
  await fg?.stop();
  await s3?.stop();
  await smn?.stop();
});

function cts(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, {
    OBS_ENDPOINT: s3.endpoint,
    SMN_ENDPOINT: smn.endpoint,
    FUNCTIONGRAPH_ENDPOINT: fg.endpoint,
    HUAWEICLOUD_SDK_AK: AK,
    HUAWEICLOUD_SDK_SK: SK,
    HUAWEICLOUD_SDK_SECURITY_TOKEN: TOKEN,
    HUAWEICLOUD_SDK_PROJECT_ID: smn.projectId,
    SMN_Topic: "cts-login-alerts",
    ...env,
  });
}

// One source per region: the coordinator plans at least one shard per source.
const SOURCES = REGIONS.map((r) => `obs://${TRAIL}/CloudTraces/${r}/`);
const scan = (...more: string[]) => [
  "scan",
  ...SOURCES,
  "--public-key",
  testKeys().publicKey.export({ type: "spki", format: "der" }).toString("base64"),
  "--allow",
  "198.51.100.0/24",
  "--format",
  "json",
  ...more,
];
const comparable = (r: Report) => ({ ...r, startedAt: "", finishedAt: "", notifications: [] });

describe("cts-audit scan --fan-out", () => {
  it("gives the single-machine report, publishes one digest, and shows progress on stderr", async () => {
    const single = await cts(scan("--notify", "none"));
    expect(single.stderr).not.toContain("fan-out");
    expect(single.stdout, single.stderr).not.toBe("");
    const singleReport = JSON.parse(single.stdout) as Report;
    expect(singleReport.alerts.length).toBe(6);
    expect(singleReport.files.some((f) => f.status === "failed")).toBe(true);
    expect(singleReport.gaps.length).toBeGreaterThan(0);

    const fanned = await cts(
      scan(
        "--notify",
        "smn",
        "--state",
        `obs://${STATE}/ledger/`,
        "--fan-out",
        urn,
        "--fan-out-concurrency",
        "2",
      ),
    );
    await fg.settled();
    expect(fanned.stderr).toMatch(
      /cts-audit: fan-out run-[0-9a-f]{16}: 3\/3 shards done, 0 failed, 0 in flight, 3 invocations/,
    );
    const report = JSON.parse(fanned.stdout) as Report;
    expect(comparable(report)).toEqual(comparable(singleReport));
    expect(fanned.code).toBe(single.code);
    expect(smn.published).toHaveLength(1);
    expect(report.notifications[0]?.messageIds).toHaveLength(1);
    expect(fg.invocations).toHaveLength(3);
    expect(fg.maxRunning).toBeLessThanOrEqual(2);
    expect(fg.invocations.every((i) => i.urn === urn)).toBe(true);
    expect(fg.rejected).toEqual([]);
    // The manifest where the README says.
    const state = new ObsBucket(STATE, {
      endpoint: s3.endpoint,
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
    });
    const manifestKeys = (await state.listAll("ledger/"))
      .map((o) => o.key)
      .filter((k) => /^ledger\/fanout\/run-[0-9a-f]{16}\/manifest\.json$/.test(k));
    expect(manifestKeys).toHaveLength(1);
  }, 120_000);

  it.each([
    [
      "no --state",
      [],
      /^cts-audit: error: --state: --fan-out keeps its manifest and shard results under the state prefix/m,
    ],
    ["a local --state", ["--state", "state.json"], /^cts-audit: error: --state: .*\(not state\.json\)/m],
    [
      "a bad concurrency",
      ["--state", `obs://${STATE}/x`, "--fan-out-concurrency", "0"],
      /^cts-audit: error: --fan-out-concurrency: "0"/m,
    ],
  ])("exits 2 for %s, naming the option, invoking nothing", async (_what, more, expected) => {
    const before = fg.invocations.length;
    const result = await cts(scan("--notify", "none", "--fan-out", urn, ...more));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(expected);
    expect(result.stdout).toBe("");
    expect(fg.invocations.length).toBe(before);
  });
});
