/**
 * Fan-out rows of `npm run bench` (`BENCH_ONLY=fanout`, README "Organisation-size backfills"): a simulated
 * organisation (BENCH_FANOUT_ACCOUNTS accounts, each its own bucket, x BENCH_FANOUT_DAYS days of small IAM files with
 * signed hourly digests) in s3rver, scanned once on this machine and once fanned out through the local FunctionGraph
 * endpoint (test/support/fgServer.ts, each shard a child process running the handler). Prints the OBS requests each
 * way took (GETs, LISTs, PUTs), the invocations, and every shard's time and requests as its worker recorded them.
 *
 * On one shared machine the fanned-out wall time says nothing about FunctionGraph (the shards share its cores and
 * each pays a child process's start): the rows to read are the request counts and the per-shard times.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { parseCli } from "../src/config.js";
import { buildLedger, buildSources } from "../src/adapters.js";
import { runFanOut } from "../src/fanout/runFanOut.js";
import type { ShardResult } from "../src/fanout/Manifest.js";
import { CollectingWriter } from "../src/report/CollectingWriter.js";
import { run } from "../src/run.js";
import { ObsBucket } from "../src/sources/ObsBucket.js";
import { CtsBucket, makeTrace } from "../test/support/ctsBucket.js";
import { FgTestServer } from "../test/support/fgServer.js";
import { S3_CREDENTIALS, S3TestServer } from "../test/support/s3Server.js";

export type Row = [string, string, string, string];

const ACCOUNTS = Number(process.env.BENCH_FANOUT_ACCOUNTS ?? 20);
const DAYS = Number(process.env.BENCH_FANOUT_DAYS ?? 4);
/** Trace files per account and day (one every few hours, as a quiet account's IAM logins). */
const FILES_PER_DAY = 4;
/** Shards in flight: below the default 20, since every shard here is a process on this machine's cores. */
const CONCURRENCY = Number(process.env.BENCH_FANOUT_CONCURRENCY ?? 4);
const PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const URN = `urn:fss:ap-southeast-1:${PROJECT}:function:default:cts-audit:latest`;

function organisation(privateKey: KeyObject): CtsBucket[] {
  const buckets: CtsBucket[] = [];
  const day0 = Date.UTC(2024, 5, 1);
  for (let a = 0; a < ACCOUNTS; a++) {
    const bucket = new CtsBucket(privateKey, `acct-${String(a).padStart(3, "0")}`);
    for (let d = 0; d < DAYS; d++) {
      for (let f = 0; f < FILES_PER_DAY; f++) {
        const at = new Date(day0 + d * 86_400_000 + f * (86_400_000 / FILES_PER_DAY) + 1_800_000);
        bucket.addTraceFile({
          service: "IAM",
          uploadTime: at,
          traces: [
            makeTrace({
              traceName: "login",
              // One login in 16 from outside the allowlist.
              sourceIp: (a + d + f) % 16 === 0 ? `203.0.113.${(a * 7 + d) % 250}` : "198.51.100.7",
              time: new Date(at.getTime() - 60_000),
              user: `user-${a}-${f}`,
            }),
          ],
        });
      }
    }
    bucket.addDigests({ service: "IAM", from: new Date(day0), to: new Date(day0 + DAYS * 86_400_000) });
    buckets.push(bucket);
  }
  return buckets;
}

type Counts = ReturnType<S3TestServer["counts"]>;
const delta = (a: Counts, b: Counts) => ({
  get: b.get - a.get,
  list: b.list - a.list,
  put: b.put - a.put,
  head: b.head - a.head,
  delete: b.delete - a.delete,
});
const requestText = (c: ReturnType<typeof delta>) =>
  `${c.get} GET, ${c.list} LIST, ${c.put} PUT${c.head ? `, ${c.head} HEAD` : ""}${c.delete ? `, ${c.delete} DELETE` : ""}`;

/** Runs the fan-out bench; returns its table rows, per-shard rows and verdicts. */
export async function fanOutBench(): Promise<{
  rows: Row[];
  shards: Row[];
  verdicts: Array<[string, boolean]>;
}> {
  const started = Date.now();
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const buckets = organisation(privateKey);
  const objects = buckets.reduce((n, b) => n + b.objects.size, 0);
  const names = buckets.map((b) => b.bucketName);
  const s3 = await S3TestServer.start([...names, "org-state"]);
  let fg: FgTestServer | undefined;
  try {
    for (const b of buckets) await s3.seed(b.bucketName, b);
    const seeded = (Date.now() - started) / 1000;
    fg = await FgTestServer.start({
      projectId: PROJECT,
      cap: 100,
      env: {
        PATH: process.env.PATH ?? "",
        OBS_ENDPOINT: s3.endpoint,
        FG_AK: S3_CREDENTIALS.accessKeyId,
        FG_SK: S3_CREDENTIALS.secretAccessKey,
        FG_TOKEN: "",
        FG_PROJECT: PROJECT,
      },
    });
    fg.allow(S3_CREDENTIALS.accessKeyId, S3_CREDENTIALS.secretAccessKey);
    const env = {
      OBS_ENDPOINT: s3.endpoint,
      FUNCTIONGRAPH_ENDPOINT: fg.endpoint,
      HUAWEICLOUD_SDK_AK: S3_CREDENTIALS.accessKeyId,
      HUAWEICLOUD_SDK_SK: S3_CREDENTIALS.secretAccessKey,
      HUAWEICLOUD_SDK_PROJECT_ID: PROJECT,
    };
    const key = publicKey.export({ type: "spki", format: "der" }).toString("base64");
    const args = (state: string, ...more: string[]) => [
      "scan",
      ...names.map((n) => `obs://${n}/CloudTraces/`),
      "--public-key",
      key,
      "--allow",
      "198.51.100.0/24",
      "--notify",
      "none",
      "--format",
      "json",
      "--state",
      `obs://org-state/${state}/`,
      ...more,
    ];
    const config = (a: string[]) => {
      const r = parseCli(a, env);
      if (r.kind !== "run") throw new Error("bench: not a run");
      return r.config;
    };

    // One machine: the engine over every account, the ledger in OBS as the fan-out has it.
    const single = config(args("single"));
    let at = s3.counts();
    let t = Date.now();
    const one = await run(single, {
      sources: await buildSources(single.sources, single.cloud, single),
      ledger: await buildLedger(single.state, single.cloud, single.stateRetentionMs),
    });
    const singleSeconds = (Date.now() - t) / 1000;
    const singleRequests = delta(at, s3.counts());

    // Fanned out: the coordinator here, every shard a FunctionGraph invocation (a child process).
    const fanned = config(args("fanned", "--fan-out", URN, "--fan-out-concurrency", String(CONCURRENCY)));
    const writer = new CollectingWriter();
    at = s3.counts();
    t = Date.now();
    const outcome = await runFanOut(fanned, {
      report: writer,
      ledger: await buildLedger(fanned.state, fanned.cloud, fanned.stateRetentionMs),
      settings: { pollMs: 250 },
    });
    const fannedSeconds = (Date.now() - t) / 1000;
    await fg.settled();
    const fannedRequests = delta(at, s3.counts());

    // What each worker recorded.
    const state = new ObsBucket("org-state", { endpoint: s3.endpoint, ...S3_CREDENTIALS });
    const results: ShardResult[] = [];
    for (const o of await state.listAll("fanned/fanout/")) {
      if (!o.key.endsWith(".done.json")) continue;
      results.push(JSON.parse((await state.getText(o.key))!) as ShardResult);
    }
    results.sort((a, b) => a.index - b.index);
    const times = results.map((r) => r.stats?.elapsedMs ?? 0);
    const childMs = fg.invocations.flatMap((i) => i.runs.map((r) => r.ms));
    const sum = (xs: number[]) => xs.reduce((n, x) => n + x, 0);
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const workerGets = sum(results.map((r) => r.stats?.requests?.get ?? 0));
    const workerLists = sum(results.map((r) => r.stats?.requests?.list ?? 0));

    const reduced = writer.files.length;
    const rows: Row[] = [
      [
        "organisation",
        `${ACCOUNTS} accounts x ${DAYS} days`,
        `${objects} objects`,
        `${FILES_PER_DAY} IAM files a day + 24 signed digests a day per account; seeded in ${seeded.toFixed(0)} s`,
      ],
      [
        "one machine",
        `${singleSeconds.toFixed(1)} s`,
        requestText(singleRequests),
        `${one.summary.alerts} alerts, ${one.files.length} files, exit ${one.exitCode}`,
      ],
      [
        `fanned out (${CONCURRENCY} in flight)`,
        `${fannedSeconds.toFixed(1)} s`,
        requestText(fannedRequests),
        `${results.length} shards, ${fg.invocations.length} invocations, ${reduced} files, exit ${outcome.exitCode}`,
      ],
      [
        "  of which workers",
        `${(sum(times) / 1000).toFixed(1)} s in shards`,
        `${workerGets} GET, ${workerLists} LIST`,
        `median shard ${(median(times) / 1000).toFixed(2)} s; median invocation incl. process start ${(median(childMs) / 1000).toFixed(2)} s`,
      ],
      [
        "  of which coordinator",
        "",
        `${fannedRequests.get - workerGets} GET, ${fannedRequests.list - workerLists} LIST`,
        "planning listing, manifest, result polls, result reads, ledger",
      ],
    ];
    const shards: Row[] = results.map((r) => [
      `shard ${r.index}`,
      `${((r.stats?.elapsedMs ?? 0) / 1000).toFixed(2)} s`,
      `${r.stats?.requests?.get ?? 0} GET, ${r.stats?.requests?.list ?? 0} LIST`,
      `${r.records.filter((x) => x.t === "file").length} files, ${r.alerts.length} alerts`,
    ]);
    const verdicts: Array<[string, boolean]> = [
      [
        `fanned-out report has the single-machine counts (${one.summary.alerts} alerts, ${one.files.length} files)`,
        reduced === one.files.length && outcome.exitCode === one.exitCode,
      ],
      [
        `every shard invoked once (${fg.invocations.length} for ${results.length})`,
        fg.invocations.length === results.length,
      ],
    ];
    return { rows, shards, verdicts };
  } finally {
    await fg?.stop();
    await s3.stop();
  }
}
