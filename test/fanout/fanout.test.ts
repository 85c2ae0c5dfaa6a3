/**
 * Fan-out end to end: the coordinator invokes a FunctionGraph-compatible endpoint (signatures verified, 256 KB and
 * concurrency limits) whose invocations run the handler in child processes against s3rver. Under a duplicate
 * delivery, a lost invocation and a worker killed part-way, the reduced report equals the single-machine report
 * on the same bucket and exactly one digest reaches the SMN endpoint; running the coordinator again resumes from
 * the results and sends nothing more.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { run } from "../../src/engine/run.js";
import type { EngineOptions } from "../../src/engine/types.js";
import { coordinate, FAN_OUT_DEFAULTS, type FanOutSettings } from "../../src/fanout/Coordinator.js";
import { FunctionGraphClient } from "../../src/fanout/FunctionGraphClient.js";
import { SmnClient } from "../../src/notify/SmnClient.js";
import { SmnNotifier } from "../../src/notify/SmnNotifier.js";
import type { Report } from "../../src/report/types.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { ObsSource } from "../../src/sources/ObsSource.js";
import { ObsLedger } from "../../src/state/ObsLedger.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { FgTestServer } from "../support/fgServer.js";
import { testKeys } from "../support/harness.js";
import { S3TestServer } from "../support/s3Server.js";
import { SmnTestServer } from "../support/smnServer.js";
import { BUSY, splitBucket } from "../support/splitBucket.js";

const ORG = "org-trail";
const SPLIT = "org-busy-trail";
const STATE = "org-state";
const REGIONS = ["ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "eu-west-101", "la-north-2"];
const URN = "urn:fss:ap-southeast-1:0a1b2c3d4e5f60718293a4b5c6d7e8f9:function:default:cts-audit:latest";
let s3: S3TestServer;
let smn: SmnTestServer;
let fg: FgTestServer;
let topic: string;

beforeAll(async () => {
  s3 = await S3TestServer.start([ORG, STATE, SPLIT]);
  await s3.seed(SPLIT, splitBucket(testKeys().privateKey, SPLIT));
  smn = await SmnTestServer.start();
  smn.allow("coordinatorAK", "coordinatorSK", "coordinatorToken");
  topic = smn.addTopic("org-alerts");
  const bucket = new CtsBucket(testKeys().privateKey, ORG);
  // Each region two days, its chain crossing midnight; logins from inside and outside the allowlist.
  for (const [r, region] of REGIONS.entries()) {
    for (let h = 0; h < 6; h++) {
      const at = new Date(Date.UTC(2024, 6, 19, 21 + h, 10 + r));
      bucket.addTraceFile({
        region,
        uploadTime: at,
        service: "IAM",
        traces: [
          makeTrace({
            traceName: h % 3 === 2 ? "logout" : "login",
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
      from: new Date("2024-07-19T21:00:00Z"),
      to: new Date(`2024-07-20T0${r === 4 ? 1 : 3}:00:00Z`), // the last region's chain stops early: a gap
    });
  }
  // A corrupt file (failed object) and a modified one (integrity finding), in two regions.
  bucket.put(
    "CloudTraces/ap-southeast-2/2024/07/20/system/IAM/cts_CloudTrace_ap-southeast-2_2024-07-20T01-30-00Z_a1b2c3d4e5f60718.json.gz",
    Buffer.from("not gzip"),
  );
  await s3.seed(ORG, bucket);
  fg = await FgTestServer.start({
    projectId: smn.projectId,
    cap: 3,
    killAfterMs: 1500,
    env: {
      PATH: process.env.PATH ?? "",
      OBS_ENDPOINT: s3.endpoint,
      FG_AK: "S3RVER",
      FG_SK: "S3RVER",
      FG_TOKEN: "workerToken",
      FG_PROJECT: smn.projectId,
    },
  });
  fg.allow("coordinatorAK", "coordinatorSK", "coordinatorToken");
}, 60_000);

afterAll(async () => {
  await fg?.stop();
  await s3?.stop();
  await smn?.stop();
});

const connection = () => ({ endpoint: s3.endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
const options = (): EngineOptions => ({
  command: "scan",
  allowList: AllowList.parse([{ value: "198.51.100.0/24", origin: "test" }]),
  events: ["login", "logout", "loginFailed"],
  since: undefined,
  until: undefined,
  verify: "warn",
  publicKey: testKeys().publicKey,
  concurrency: 4,
  dryRun: false,
  maxDecompressedBytes: 1e9,
});
const creds = {
  accessKeyId: "coordinatorAK",
  secretAccessKey: "coordinatorSK",
  securityToken: "coordinatorToken",
  projectId: "",
};

/** What must be equal: alerts, every file's verdict, digests, gaps, the counts. */
const comparable = (r: Report) => ({
  summary: { ...r.summary, suppressed: 0 },
  alerts: r.alerts.map(({ suppressed: _s, pending: _p, ...a }) => a),
  files: r.files,
  digests: r.digests,
  gaps: r.gaps,
  exitCode: r.exitCode,
});

describe("fan-out on FunctionGraph", () => {
  it("reduces to the single-machine report under a duplicate, a lost invocation and a killed worker, with one digest", async () => {
    creds.projectId = smn.projectId;
    const single = await run(options(), {
      sources: [new ObsSource(`obs://${ORG}`, connection())],
    });
    expect(single.alerts.length).toBeGreaterThan(0);
    expect(single.files.some((f) => f.status === "failed")).toBe(true);
    expect(single.gaps.length).toBeGreaterThan(0);

    fg.inject("duplicate", "lost", "killed");
    // The killed invocation is the third accepted, shard 2 (ap-southeast-3): its first trace file GET hangs, so the
    // kill always lands mid-shard, before a result, whatever the machine's load (a worker that finished within the
    // kill delay would make the re-invocation, and the count below, depend on timing).
    s3.inject({
      method: "GET",
      match: "cts_CloudTrace_ap-southeast-3_",
      times: 1,
      kind: "delay",
      delayMs: 15_000,
    });
    const settings: FanOutSettings = {
      ...FAN_OUT_DEFAULTS,
      functionUrn: URN,
      concurrency: 3,
      // Each region's first day is 5 objects, its two days more: one series a shard, five shards, no cut.
      shardObjects: 6,
      // Above a child's start under load (tsx), so that only the lost and the killed shard normally need another try.
      deadlineMs: 15_000,
      pollMs: 300,
    };
    const deps = () => ({
      connection: connection(),
      state: `obs://${STATE}/ledger`,
      invoker: new FunctionGraphClient(fg.endpoint, creds, {
        retry: { attempts: 8, baseDelayMs: 100, maxDelayMs: 1000 },
      }),
      notifier: new SmnNotifier(new SmnClient(smn.endpoint, creds), { urn: topic }),
      ledger: new ObsLedger(new ObsBucket(STATE, connection()), "ledger"),
    });
    const fanned = await coordinate([`obs://${ORG}`], options(), settings, deps());
    if ("paused" in fanned) throw new Error("paused");
    await fg.settled();

    expect(comparable(fanned)).toEqual(comparable(single));
    expect(smn.published).toHaveLength(1);
    expect(fanned.notifications[0]?.messageIds).toHaveLength(1);

    // Five shards, each invoked with the manifest and its index only; the lost and the killed one again.
    const shards = fg.invocations.map(
      (i) => (i.event as { fanOutShard: { shard: number } }).fanOutShard.shard,
    );
    expect(new Set(shards).size).toBe(5);
    // The lost and the killed shard again; a slow machine may re-invoke a slow shard too (its late run finds the
    // result), but never more than the tries allow.
    expect(fg.invocations.length).toBeGreaterThanOrEqual(7);
    for (const s of new Set(shards))
      expect(shards.filter((x) => x === s).length).toBeLessThanOrEqual(settings.tries);
    expect(fg.invocations.every((i) => i.bytes < 1024 && i.urn === URN)).toBe(true);
    expect(fg.invocations.find((i) => i.fault === "duplicate")?.runs).toHaveLength(2);
    expect(fg.invocations.find((i) => i.fault === "killed")?.runs[0]?.signal).toBe("SIGKILL");
    const shardOf = (i: (typeof fg.invocations)[number]) =>
      (i.event as { fanOutShard: { shard: number } }).fanOutShard.shard;
    for (const fault of ["lost", "killed"] as const) {
      const faulty = fg.invocations.find((i) => i.fault === fault)!;
      expect(fg.invocations.filter((i) => shardOf(i) === shardOf(faulty)).length).toBeGreaterThanOrEqual(2);
    }
    expect(fg.maxRunning).toBeLessThanOrEqual(3);
    expect(fg.rejected.filter((r) => r.status === 401)).toEqual([]);

    // Again: the manifest and every result exist; nothing is invoked, nothing sent twice.
    const before = fg.invocations.length;
    const again = await coordinate([`obs://${ORG}`], options(), settings, deps());
    if ("paused" in again) throw new Error("paused");
    expect(fg.invocations.length).toBe(before);
    expect(smn.published).toHaveLength(1);
    expect(again.summary.suppressed).toBe(again.alerts.length);
    expect(comparable(again)).toEqual(comparable(single));
  }, 180_000);
  it("a busy region cut at every midnight reduces to the single-machine report under the same faults, with one digest", async () => {
    creds.projectId = smn.projectId;
    const single = await run(options(), { sources: [new ObsSource(`obs://${SPLIT}`, connection())] });
    // What the cuts must judge as one run does (the fixture's cases, test/support/splitBucket.ts).
    expect(single.alerts.some((a) => a.rule === "brute-force")).toBe(true);
    expect(single.digests.some((d) => d.status === "missing")).toBe(true);
    expect(single.files.some((f) => f.status === "failed")).toBe(true);
    const published = smn.published.length;

    fg.inject("duplicate", "lost", "killed");
    // Shards: the busy region's four days, then the quiet region's two. The killed one is the third accepted, shard
    // 2 (the busy 07-21): only it reads that day's trace files (its neighbours read that day's digests at most), so
    // its first trace GET hanging makes the kill land mid-shard whatever the load.
    s3.inject({
      method: "GET",
      match: `cts_CloudTrace_${BUSY}_2024-07-21T`,
      times: 1,
      kind: "delay",
      delayMs: 15_000,
    });
    const settings: FanOutSettings = {
      ...FAN_OUT_DEFAULTS,
      functionUrn: URN,
      concurrency: 3,
      shardObjects: 1, // one unit a shard: every midnight is a cut
      deadlineMs: 15_000,
      pollMs: 300,
    };
    const before = fg.invocations.length;
    const fanned = await coordinate([`obs://${SPLIT}`], options(), settings, {
      connection: connection(),
      state: `obs://${STATE}/split/`,
      invoker: new FunctionGraphClient(fg.endpoint, creds, {
        retry: { attempts: 8, baseDelayMs: 100, maxDelayMs: 1000 },
      }),
      notifier: new SmnNotifier(new SmnClient(smn.endpoint, creds), { urn: topic }),
      ledger: new ObsLedger(new ObsBucket(STATE, connection()), "split"),
    });
    if ("paused" in fanned) throw new Error("paused");
    await fg.settled();

    expect(comparable(fanned)).toEqual(comparable(single));
    expect(smn.published).toHaveLength(published + 1);
    const mine = fg.invocations.slice(before);
    const shardOf = (i: (typeof mine)[number]) =>
      (i.event as { fanOutShard: { shard: number } }).fanOutShard.shard;
    expect(new Set(mine.map(shardOf))).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    expect(mine.find((i) => i.fault === "duplicate")?.runs).toHaveLength(2);
    expect(mine.find((i) => i.fault === "killed")?.runs[0]?.signal).toBe("SIGKILL");
    for (const fault of ["lost", "killed"] as const) {
      const faulty = mine.find((i) => i.fault === fault)!;
      expect(mine.filter((i) => shardOf(i) === shardOf(faulty)).length).toBeGreaterThanOrEqual(2);
    }
  }, 180_000);
});
