/**
 * Shards cut mid-series (between units, at midnights), differential against the single-machine run: for every
 * budget from "one unit a shard" to "one shard", the coordinator's plan run by in-process workers against s3rver
 * reduces to the single-machine report: summaries, every file's verdict, digests, gaps, alerts (the windowed
 * brute-force whose window straddles a cut included), exit code. The fault-injected run on the FunctionGraph
 * endpoint is in fanout.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { parseRules } from "../../src/detect/parseRules.js";
import { run } from "../../src/engine/run.js";
import type { EngineOptions } from "../../src/engine/types.js";
import { coordinate, FAN_OUT_DEFAULTS, planShards } from "../../src/fanout/Coordinator.js";
import type { ShardEvent, ShardPlan, ShardResult } from "../../src/fanout/Manifest.js";
import { listedRange, runShard } from "../../src/fanout/Worker.js";
import type { Report } from "../../src/report/types.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { ObsSource } from "../../src/sources/ObsSource.js";
import { testKeys } from "../support/harness.js";
import { S3TestServer } from "../support/s3Server.js";
import { BRUTE_USER, BUSY, splitBucket } from "../support/splitBucket.js";

const ORG = "split-trail";
const STATE = "split-state";
const URN = "urn:fss:ap-southeast-1:0a1b2c3d4e5f60718293a4b5c6d7e8f9:function:default:cts-audit:latest";
let s3: S3TestServer;
let single: Report;

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
const comparable = (r: Report) => ({
  summary: { ...r.summary, suppressed: 0 },
  alerts: r.alerts.map(({ suppressed: _s, pending: _p, ...a }) => a),
  files: r.files,
  digests: r.digests,
  gaps: r.gaps,
  errors: r.errors,
  exitCode: r.exitCode,
});

beforeAll(async () => {
  s3 = await S3TestServer.start([ORG, STATE]);
  await s3.seed(ORG, splitBucket(testKeys().privateKey, ORG));
  single = await run(options(), { sources: [new ObsSource(`obs://${ORG}`, connection())] });
}, 60_000);

afterAll(async () => {
  await s3?.stop();
});

const dayOf = (key: string) => /\/(\d{4}\/\d{2}\/\d{2})\//.exec(key)?.[1];

/** The fan-out, each shard's worker run in this process when invoked; results kept for inspection. */
async function fanOut(shardObjects: number, state: string, opts: EngineOptions = options()) {
  const results: ShardResult[] = [];
  const report = await coordinate(
    [`obs://${ORG}`],
    opts,
    { ...FAN_OUT_DEFAULTS, functionUrn: URN, shardObjects, pollMs: 0 },
    {
      connection: connection(),
      state: `obs://${STATE}/${state}/`,
      invoker: {
        invokeAsync: async (_urn: string, event: ShardEvent) => {
          await runShard(event, connection());
          return `request-${event.fanOutShard.shard}`;
        },
      },
      sleep: () => Promise.resolve(),
    },
  );
  if ("paused" in report) throw new Error("paused");
  const bucket = new ObsBucket(STATE, connection());
  for (const o of await bucket.listAll(`${state}/fanout/`))
    if (o.key.endsWith(".done.json")) results.push(JSON.parse((await bucket.getText(o.key))!) as ShardResult);
  return { report, results: results.sort((a, b) => a.index - b.index) };
}

describe("fan-out shards cut mid-series", () => {
  it("the fixture has what a cut must judge: held files and digests, a missing link, a gap, a straddling brute-force", () => {
    const brute = single.alerts.filter((a) => a.rule === "brute-force");
    expect(brute).toHaveLength(1);
    expect(brute[0]!.integrity).toBe("valid");
    expect(single.digests.some((d) => d.status === "missing")).toBe(true);
    expect(
      single.gaps.some((g) => g.from.startsWith("2024-07-21T23") || g.to.startsWith("2024-07-22T00")),
    ).toBe(true);
    // The 23:45 files are listed by the next day's digests only; the unanchored 23:30 digest is anchored by one.
    const lastOf = (day: string) =>
      single.files.find((f) => f.object.includes(`_2024-07-${day}T23-45-00Z_`))!;
    expect(lastOf("19").integrity).toBe("valid");
    expect(lastOf("19").digest).toContain("2024/07/20/");
    expect(single.files.some((f) => f.integrity === "modified")).toBe(true);
    expect(single.files.some((f) => f.status === "failed")).toBe(true);
    expect(single.digests.find((d) => d.object.includes("_2024-07-19T23-30-00Z"))?.status).toBe("valid");
    expect(single.gaps.some((g) => (g.reason ?? "").includes("chain truncated"))).toBe(true);
  });

  it.each([1, 20, 37, 45, 60, 90, 1e9])(
    "budget %s objects: the reduced report equals the single-machine report",
    async (budget) => {
      const { report, results } = await fanOut(budget, `b${budget}`);
      expect(comparable(report)).toEqual(comparable(single));
      // Each listed object is reported by exactly one shard.
      const files = results.flatMap((r) => r.records.filter((x) => x.t === "file").map((x) => x.r.object));
      expect(new Set(files).size).toBe(files.length);
    },
    60_000,
  );

  it("at one unit a shard, every midnight of the busy region is a cut, and the brute-force's attempts are in two shards", async () => {
    const plan = await planShards([`obs://${ORG}`], options(), connection(), {
      shardObjects: 1,
      shardBytes: 1e12,
    });
    const busy = plan.filter((p) => p.last.includes(`/${BUSY}/`));
    expect(busy.map((p) => dayOf(p.last))).toEqual(["2024/07/19", "2024/07/20", "2024/07/21", "2024/07/22"]);
    expect(busy.map((p) => [p.lead !== undefined, p.trail !== undefined])).toEqual([
      [false, true],
      [true, true],
      [true, true],
      [true, false],
    ]);
    const { report, results } = await fanOut(1, "windows");
    expect(comparable(report)).toEqual(comparable(single));
    const holders = results.filter((r) =>
      r.attempts?.some((u) => u.attempts.some((a) => a.user === BRUTE_USER)),
    );
    expect(holders).toHaveLength(2);
    // Workers alert on no window: the reducer found it over both shards' attempts.
    expect(results.flatMap((r) => r.alerts).some((a) => a.rule === "brute-force")).toBe(false);
    expect(report.alerts.filter((a) => a.rule === "brute-force")).toHaveLength(1);
  }, 60_000);
});

describe("planShards", () => {
  it.each([1, 20, 37, 60, 1e9])(
    "budget %s: shards tile the listing; context is the series' two units before and one after",
    async (budget) => {
      const plan = await planShards([`obs://${ORG}`], options(), connection(), {
        shardObjects: budget,
        shardBytes: 1e12,
      });
      const keys = (await new ObsBucket(ORG, connection()).listAll("")).map((o) => o.key).sort();
      const seriesOf = (key: string) => /CloudTraces\/([^/]+)\//.exec(key)?.[1];
      const dayKeys = (key: string) => `${seriesOf(key)}|${dayOf(key)}`;
      let covered = 0;
      plan.forEach((p: ShardPlan, i) => {
        expect(p.index).toBe(i);
        expect(p.after).toBe(i === 0 ? undefined : plan[i - 1]!.last);
        const own = keys.filter((k) => (p.after === undefined || k > p.after) && k <= p.last);
        expect(own).toHaveLength(p.objects);
        covered += own.length;
        const first = own[0]!;
        const prev = p.after;
        // Cut mid-series exactly when the key before the shard is of the same series.
        expect(p.lead !== undefined).toBe(prev !== undefined && seriesOf(prev) === seriesOf(first));
        const next = keys.find((k) => k > p.last);
        expect(p.trail !== undefined).toBe(next !== undefined && seriesOf(next) === seriesOf(p.last));
        const range = listedRange(p);
        const listed = keys.filter((k) => (range.after === undefined || k > range.after) && k <= range.last);
        const before = listed.filter((k) => prev !== undefined && k <= prev);
        const after = listed.filter((k) => k > p.last);
        // Context: whole units of the same series, at most two days before and the next day after.
        expect(new Set(before.map(dayKeys)).size).toBeLessThanOrEqual(2);
        expect(before.every((k) => seriesOf(k) === seriesOf(first))).toBe(true);
        if (before.length > 0)
          expect(keys.filter((k) => k < before[0]!).every((k) => dayKeys(k) !== dayKeys(before[0]!))).toBe(
            true,
          );
        expect(new Set(after.map(dayKeys)).size).toBeLessThanOrEqual(1);
        if (next !== undefined && p.trail) expect(after.map(dayKeys)).toContain(dayKeys(next));
        if (after.length > 0)
          expect(keys.find((k) => k > after[after.length - 1]!)).not.toSatisfy(
            (k: string | undefined) => k !== undefined && dayKeys(k) === dayKeys(after[0]!),
          );
      });
      expect(covered).toBe(keys.length);
    },
  );

  it("every shard audits with the coordinator's rules file (per-user allowances, rules switched off)", async () => {
    // Every address allowed for the user of the brute force, and owner-login off: a worker on the default rules
    // would raise what the coordinator's rules allow.
    const { config } = parseRules(
      `allow:\n  - cidrs: [0.0.0.0/0, "::/0"]\n    users: [${BRUTE_USER}]\nrules:\n  owner-login: { enabled: false }\n`,
      "test rules",
    );
    const ruled = { ...options(), rules: config };
    const alone = await run(ruled, { sources: [new ObsSource(`obs://${ORG}`, connection())] });
    expect(comparable(alone)).not.toEqual(comparable(single));
    const { report } = await fanOut(20, "ruled", ruled);
    expect(comparable(report)).toEqual(comparable(alone));
  }, 60_000);
});
