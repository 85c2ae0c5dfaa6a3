/**
 * Bad input to the fan-out: shard events and timer bodies that are not what the coordinator sends (a clear error
 * naming the field, never an event silently ignored), manifests that are missing or corrupt (the worker fails the
 * shard with an error naming the manifest, and says so where the coordinator looks, so that the coordinator reports
 * the shard failed at once instead of re-invoking it), and the shard result keys the coordinator reads back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import type { EngineOptions } from "../../src/engine/types.js";
import { coordinate, FAN_OUT_DEFAULTS, type Invoker } from "../../src/fanout/Coordinator.js";
import { FanOutLayout, type ShardEvent } from "../../src/fanout/Manifest.js";
import { handler, type FunctionContext } from "../../src/handler.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { testKeys } from "../support/harness.js";
import { S3TestServer } from "../support/s3Server.js";

const URN = "urn:fss:ap-southeast-1:0a1b2c3d4e5f60718293a4b5c6d7e8f9:function:default:cts-audit:latest";
const TRAIL = "bad-trail";
const STATE = "bad-state";
let s3: S3TestServer;

beforeAll(async () => {
  s3 = await S3TestServer.start([TRAIL, STATE]);
  const bucket = new CtsBucket(testKeys().privateKey, TRAIL);
  for (const region of ["ap-southeast-1", "ap-southeast-2"]) {
    const at = new Date("2024-07-19T10:05:00Z");
    bucket.addTraceFile({
      region,
      uploadTime: at,
      service: "IAM",
      traces: [
        makeTrace({
          traceName: "login",
          user: `u-${region}`,
          sourceIp: "203.0.113.9",
          time: new Date(at.getTime() - 60_000),
        }),
      ],
    });
  }
  await s3.seed(TRAIL, bucket);
}, 60_000);

afterAll(async () => {
  await s3?.stop();
});

/** The function's context: OBS at s3rver (a dead port when `endpoint` says so), the state prefix set. */
function context(endpoint = s3.endpoint): FunctionContext {
  const data: Record<string, string> = {
    OBS_ENDPOINT: endpoint,
    CTS_AUDIT_STATE: `obs://${STATE}/ledger`,
    RegionName: "ap-southeast-1",
  };
  return {
    getSecurityAccessKey: () => "S3RVER",
    getSecuritySecretKey: () => "S3RVER",
    getSecurityToken: () => "",
    getProjectID: () => "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    getRemainingTimeInMilliSeconds: () => 600_000,
    getUserData: (key: string) => data[key],
  } as FunctionContext;
}

const connection = () => ({ endpoint: s3.endpoint, accessKeyId: "S3RVER", secretAccessKey: "S3RVER" });
const state = () => new ObsBucket(STATE, connection());
const options = (): EngineOptions => ({
  command: "scan",
  allowList: AllowList.parse([{ value: "198.51.100.0/24", origin: "test" }]),
  events: ["login"],
  since: undefined,
  until: undefined,
  verify: "warn",
  publicKey: testKeys().publicKey,
  concurrency: 2,
  dryRun: false,
  maxDecompressedBytes: 1e9,
});

describe("FanOutLayout.parseShardKey", () => {
  const layout = new FanOutLayout("obs://state/ledger", "run-0123456789abcdef");
  const folder = "ledger/fanout/run-0123456789abcdef/shards/";
  it.each([
    [`${folder}0.done.json`, { index: 0, status: "done" }],
    [`${folder}17.failed.json`, { index: 17, status: "failed" }],
    [`${folder}12345.done.json`, { index: 12345, status: "done" }],
    [`${folder}3.running.json`, undefined],
    [`${folder}3.done.json.tmp`, undefined],
    [`${folder}3.done`, undefined],
    [`${folder}x.done.json`, undefined],
    [`${folder}-1.done.json`, undefined],
    [`${folder}1.5.done.json`, undefined],
    [`${folder}01.done.json`, undefined],
    [`${folder}old-2.done.json`, undefined],
    [`${folder}sub/4.done.json`, undefined],
    [`${folder}`, undefined],
    ["ledger/fanout/run-0123456789abcdef/manifest.json", undefined],
    // Another run's results, and a key that only ends like one.
    ["ledger/fanout/run-ffffffffffffffff/shards/0.done.json", undefined],
    ["other/ledger/fanout/run-0123456789abcdef/shards/0.done.json", undefined],
  ])("%s -> %j", (key, expected) => {
    expect(layout.parseShardKey(key)).toEqual(expected);
  });

  it("reads back every key it writes", () => {
    for (const index of [0, 1, 9, 10, 99, 100, 4096])
      for (const status of ["done", "failed"] as const)
        expect(layout.parseShardKey(layout.shardKey(index, status))).toEqual({ index, status });
  });
});

describe("a shard event that is not the coordinator's", () => {
  const manifest = `obs://${STATE}/ledger/fanout/run-0123456789abcdef/manifest.json`;
  it.each([
    ["a negative index", { manifest, shard: -1 }, /^fanOutShard\.shard: -1 is not a shard index/],
    ["a fractional index", { manifest, shard: 1.5 }, /^fanOutShard\.shard: 1\.5 is not a shard index/],
    ["an index as text", { manifest, shard: "2" }, /^fanOutShard\.shard: "2" is not a shard index/],
    ["no index", { manifest }, /^fanOutShard\.shard: undefined is not a shard index/],
    ["no manifest", { shard: 0 }, /^fanOutShard\.manifest: undefined is not an obs:\/\/ manifest location/],
    [
      "a manifest that is not in OBS",
      { manifest: "/tmp/manifest.json", shard: 0 },
      /^fanOutShard\.manifest: "\/tmp\/manifest\.json" is not an obs:\/\/ manifest location/,
    ],
    ["a body that is not an object", "shard 0", /^fanOutShard: give \{"manifest"/],
  ])("rejects %s, naming the field", async (_what, body, expected) => {
    // A dead OBS endpoint: the event is refused before anything is read.
    const result = await handler({ fanOutShard: body }, context("http://127.0.0.1:9"));
    expect(result.ok).toBe(false);
    expect(result.error).toMatch(expected);
  });

  it("fails a shard outside the manifest's location pattern", async () => {
    const result = await handler(
      { fanOutShard: { manifest: `obs://${STATE}/ledger/manifest.json`, shard: 0 } },
      context(),
    );
    expect(result.ok).toBe(false);
    expect(result.error).toContain(`obs://${STATE}/ledger/manifest.json is not a fan-out manifest location`);
  });
});

describe("a timer trigger whose body is not a fan-out request", () => {
  const timer = (userEvent: unknown) => ({
    version: "v1.0",
    time: "2024-07-20T02:00:00+08:00",
    trigger_type: "TIMER",
    trigger_name: "nightly",
    ...(userEvent === undefined ? {} : { user_event: userEvent }),
  });
  const good = { sources: [`obs://${TRAIL}/CloudTraces/`], functionUrn: URN, since: "24h" };
  it.each([
    [
      "no additional information",
      timer(undefined),
      [/^timer trigger event without additional information \(user_event\)/],
    ],
    [
      "empty additional information",
      timer(""),
      [/without additional information \(user_event\): set the timer/],
    ],
    [
      "text that is not JSON",
      timer("{sources: obs://x}"),
      [/\(user_event\) is not JSON .*: set the timer trigger's additional information to \{"fanOut"/],
    ],
    ["JSON without fanOut", timer(JSON.stringify(good)), [/\(user_event\) has no "fanOut" object/]],
    ["fanOut not an object", timer(JSON.stringify({ fanOut: "nightly" })), [/^fanOut: not an object/]],
    [
      "every field wrong",
      timer(
        JSON.stringify({
          fanOut: {
            sources: ["bucket/CloudTraces/"],
            functionUrn: "cts-audit",
            since: "yesterday",
            until: "soon",
            concurrency: 500,
          },
        }),
      ),
      [
        /^fanOut\.since: "yesterday" is not a time or duration/,
        /^fanOut\.until: "soon" is not a time or duration/,
        /^fanOut\.sources: give one or more obs:\/\/bucket\/prefix/,
        /^fanOut\.concurrency: 500 must be a whole number from 1 to 100/,
        /^fanOut\.functionUrn: give this function's URN/,
      ],
    ],
    [
      "sources not a list",
      timer(JSON.stringify({ fanOut: { ...good, sources: `obs://${TRAIL}` } })),
      [/^fanOut\.sources:/],
    ],
    [
      "concurrency as text",
      timer(JSON.stringify({ fanOut: { ...good, concurrency: "20" } })),
      [/^fanOut\.concurrency: "20" must be/],
    ],
    ["the request without a timer, wrong", { fanOut: { ...good, sources: [] } }, [/^fanOut\.sources:/]],
  ])("rejects %s, naming the field and the fix", async (_what, event, expected) => {
    const result = await handler(event, context("http://127.0.0.1:9"));
    expect(result.ok).toBe(false);
    const lines = (result.error ?? "").split(/\\n|\n|; /);
    for (const e of expected)
      expect(
        lines.some((l) => e.test(l)),
        `${e} in\n${result.error}`,
      ).toBe(true);
  });
});

describe("a manifest that is missing or corrupt", () => {
  const runId = "run-badbadbadbadbad0";
  const layout = new FanOutLayout(`obs://${STATE}/ledger`, runId);
  const event = (shard: number): ShardEvent => ({ fanOutShard: { manifest: layout.manifestUrl, shard } });
  const valid = () => ({
    version: 1,
    runId,
    createdAt: "2024-07-20T00:00:00Z",
    functionUrn: URN,
    sources: [`obs://${TRAIL}`],
    options: {
      command: "scan",
      verify: "warn",
      events: ["login"],
      allow: [],
      publicKey: testKeys().publicKey.export({ type: "spki", format: "der" }).toString("base64"),
      concurrency: 2,
      maxDecompressedBytes: 1e9,
    },
    shards: [{ index: 0, source: 0, last: "CloudTraces/zzz", objects: 2, bytes: 1, units: 2 }],
  });

  it.each([
    ["missing", undefined, 0, "does not exist: start the run with the coordinator"],
    ["not JSON", "{ manifest", 0, "is not a cts-audit manifest"],
    ["another version", JSON.stringify({ ...valid(), version: 2 }), 0, "not a version 1 manifest"],
    ["JSON null", "null", 0, "not a version 1 manifest"],
    [
      "without shards",
      JSON.stringify({ ...valid(), shards: undefined }),
      0,
      "shards, sources or options missing",
    ],
    [
      "without options",
      JSON.stringify({ ...valid(), options: undefined }),
      0,
      "shards, sources or options missing",
    ],
    [
      "without the public key",
      JSON.stringify({ ...valid(), options: { ...valid().options, publicKey: undefined } }),
      0,
      "options.publicKey missing",
    ],
    [
      "with a public key that is not one",
      JSON.stringify({ ...valid(), options: { ...valid().options, publicKey: "bm90IGEga2V5" } }),
      0,
      "its options are unusable",
    ],
    [
      "with a shard naming no source",
      JSON.stringify({ ...valid(), shards: [{ ...valid().shards[0], source: 3 }] }),
      0,
      "shard 0 names no source",
    ],
    ["without the shard asked for", JSON.stringify(valid()), 4, "has no shard 4 (it has 1)"],
  ])(
    "%s: the worker fails the shard naming the manifest, and marks it failed",
    async (_what, text, shard, reason) => {
      const bucket = state();
      await bucket.delete(layout.manifestKey);
      await bucket.delete(layout.shardKey(shard, "failed"));
      if (text !== undefined) await bucket.putText(layout.manifestKey, text);
      const result = await handler(event(shard), context());
      expect(result.ok).toBe(false);
      expect(result.error).toContain(layout.manifestUrl);
      expect(result.error).toContain(reason);
      const marker = JSON.parse((await bucket.getText(layout.shardKey(shard, "failed"))) ?? "{}") as {
        reason?: string;
      };
      expect(marker.reason).toContain(layout.manifestUrl);
      expect(marker.reason).toContain(reason);
      expect(await bucket.getText(layout.shardKey(shard, "done"))).toBeUndefined();
    },
  );

  it("a failure OBS may fix later (OBS unreachable) is no marker: the coordinator invokes the shard again", async () => {
    const bucket = state();
    await bucket.putText(layout.manifestKey, JSON.stringify(valid()));
    await bucket.delete(layout.shardKey(0, "failed"));
    const result = await handler(event(0), context("http://127.0.0.1:9"));
    expect(result.ok).toBe(false);
    expect(await bucket.getText(layout.shardKey(0, "failed"))).toBeUndefined();
  });
});

describe("the coordinator and a worker that cannot read the manifest", () => {
  /** Invokes the handler in this process, as FunctionGraph would, after `before` (which may corrupt the manifest). */
  function inProcess(
    before: () => Promise<void>,
  ): Invoker & { events: ShardEvent[]; runs: Promise<unknown>[] } {
    const events: ShardEvent[] = [];
    const runs: Promise<unknown>[] = [];
    return {
      events,
      runs,
      async invokeAsync(_urn, event) {
        events.push(event);
        await before();
        runs.push(handler(event, context()));
        return `req-${events.length}`;
      },
    };
  }
  const settings = {
    ...FAN_OUT_DEFAULTS,
    functionUrn: URN,
    shardObjects: 1,
    pollMs: 50,
    deadlineMs: 120_000,
  };
  const deps = (invoker: Invoker) => ({ connection: connection(), state: `obs://${STATE}/corrupt`, invoker });

  it("reports each shard failed with the worker's reason at once, and retries them when run again", async () => {
    const bucket = state();
    let original: string | undefined;
    const manifestKey = () =>
      `corrupt/fanout/${(original && JSON.parse(original).runId) as string}/manifest.json`;
    const corrupting = inProcess(async () => {
      if (original === undefined) {
        const keys = (await bucket.listAll("corrupt/fanout/")).map((o) => o.key);
        const key = keys.find((k) => k.endsWith("/manifest.json"))!;
        original = await bucket.getText(key);
        await bucket.putText(key, "{ truncated");
      }
    });
    const broken = await coordinate([`obs://${TRAIL}`], options(), settings, deps(corrupting));
    await Promise.all(corrupting.runs);
    if ("paused" in broken) throw new Error("paused");
    // Two shards (one region each), each invoked once: the worker's marker, not the 2-minute deadline, failed them.
    expect(corrupting.events.map((e) => e.fanOutShard.shard).sort()).toEqual([0, 1]);
    expect(broken.exitCode).toBe(1);
    const manifestUrl = `obs://${STATE}/${manifestKey()}`;
    for (const shard of [0, 1])
      expect(broken.errors).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^fan-out shard ${shard} \\(.*\\) has no result: ${manifestUrl} is not a cts-audit manifest`,
          ),
        ),
      );
    expect(broken.files).toEqual([]);

    // The manifest repaired, the same command retries the failed shards: their stale markers do not fail them again.
    await bucket.putText(manifestKey(), original!);
    const retrying = inProcess(async () => undefined);
    const fixed = await coordinate([`obs://${TRAIL}`], options(), settings, deps(retrying));
    await Promise.all(retrying.runs);
    if ("paused" in fixed) throw new Error("paused");
    expect(retrying.events).toHaveLength(2);
    expect(fixed.errors).toEqual([]);
    expect(fixed.files.map((f) => f.status)).toEqual(["scanned", "scanned"]);
    expect(fixed.alerts).toHaveLength(2);
    const outcomes = (await Promise.all(retrying.runs)) as Array<{
      fanOut?: { shard?: { objects: number } };
    }>;
    expect(outcomes.map((o) => o.fanOut?.shard?.objects)).toEqual([1, 1]);
  }, 60_000);
});
