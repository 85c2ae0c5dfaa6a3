/**
 * OBS latency rows of `npm run bench` (DESIGN "Performance", OBS; issue 18): a month of a realistic account in
 * s3rver, behind a proxy that answers every request 30 ms after it arrived at the earliest (s3rver's own time
 * included, as a distant endpoint's is) and caps the link's bandwidth, scanned as a backfill by
 * the built command line (esdk-obs-nodejs, as in production) in its own process. Requests are counted at the
 * proxy. Each run is judged against the bound its concurrency allows (requests x latency / concurrency, or the
 * link's bandwidth when that is slower) and against a sequential reader (one request at a time).
 */
import { spawn } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ObsBucket } from "../src/sources/ObsBucket.js";
import { startBenchServer, type BenchServer, type ServerSnapshot } from "./obsServer.js";
import { CtsBucket, makeTrace, resetTraceIds } from "../test/support/ctsBucket.js";
import { S3_CREDENTIALS, S3TestServer } from "../test/support/s3Server.js";

export type Row = [string, string, string, string];

const BUCKET = "bench";
const REGION = "ap-southeast-1";
const LATENCY_MS = 30;
/** 100 Mbit/s for the whole link. */
const BYTES_PER_SECOND = 12_500_000;
const DAYS = 30;
/** One file every 5 minutes for each service: CTS's usual pace for a busy folder. */
const FILES_PER_DAY = 288;
const SERVICES = ["IAM", "ECS", "OBS"] as const;
const START = Date.UTC(2024, 5, 1);
/** Bump when the corpus changes: the cached store is rebuilt. */
const CORPUS_VERSION = "obs-month-1";
/** Days the sequential reader reads (it takes ~30 ms a request: a month would take minutes). */
const SEQUENTIAL_DAYS = 2;
/** The in-flight timeline's sample: requests open at the proxy, averaged over each such slice of the run. */
const SAMPLE_MS = 100;

/** The month's objects: trace files of three services, and hourly signed digests chained across days. */
function monthBucket(keyPem: string): CtsBucket {
  resetTraceIds();
  const bucket = new CtsBucket(createPrivateKey(keyPem), BUCKET);
  const step = 86_400_000 / FILES_PER_DAY;
  for (let d = 0; d < DAYS; d++) {
    for (let f = 0; f < FILES_PER_DAY; f++) {
      const at = new Date(START + d * 86_400_000 + f * step + 45_000);
      const i = d * FILES_PER_DAY + f;
      for (const service of SERVICES) {
        const traces =
          service === "IAM"
            ? // A few logins a file, about one in 50 files from outside the allowlist.
              Array.from({ length: 4 }, (_, t) =>
                makeTrace({
                  traceName: t === 0 ? "login" : "createUser",
                  sourceIp: t === 0 && i % 50 === 0 ? `203.0.113.${i % 250}` : `192.0.2.${i % 250}`,
                  time: new Date(at.getTime() - 30_000 + t),
                  user: `user${i % 40}`,
                }),
              )
            : Array.from({ length: 20 }, (_, t) =>
                makeTrace({
                  traceName: "createServer",
                  sourceIp: "198.51.100.9",
                  time: new Date(at.getTime() - 60_000 + t),
                  serviceType: service,
                }),
              );
        bucket.addTraceFile({ service, region: REGION, uploadTime: at, traces });
      }
    }
  }
  for (const service of SERVICES)
    bucket.addDigests({
      service,
      region: REGION,
      from: new Date(START),
      to: new Date(START + DAYS * 86_400_000),
    });
  return bucket;
}

/** s3rver's store holding the month, made once and cached (uploading ~28,000 objects takes a minute or two). */
async function cachedStore(cacheDir: string, keyPem: string): Promise<{ dir: string; objects: number }> {
  const dir = path.join(cacheDir, "obs-month-s3rver");
  const done = `${dir}.complete`;
  if (existsSync(done)) {
    const marker = JSON.parse(readFileSync(done, "utf8")) as { version: string; objects: number };
    if (marker.version === CORPUS_VERSION) return { dir, objects: marker.objects };
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(done, { force: true });
  mkdirSync(dir, { recursive: true });
  console.error(`cts-audit bench: building the OBS month (cached in ${dir}) ...`);
  const bucket = monthBucket(keyPem);
  const s3 = await S3TestServer.start([BUCKET], { directory: dir });
  try {
    await s3.seed(BUCKET, bucket);
  } finally {
    await s3.stop();
  }
  writeFileSync(done, JSON.stringify({ version: CORPUS_VERSION, objects: bucket.objects.size }));
  return { dir, objects: bucket.objects.size };
}

interface Backfill {
  seconds: number;
  /** Seconds requests were open at the proxy, summed. */
  busy: number;
  /** CPU seconds the scan's process used (user and system). */
  cpu: number;
  /** CPU seconds the server's process (s3rver and the proxy) used meanwhile. */
  serverCpu: number;
  /** Of which the proxy's, when it runs alone. */
  proxyCpu: number | undefined;
  /** Requests open at the proxy, averaged over each `SAMPLE_MS` of the run (from its first request on). */
  timeline: number[];
  /** The run's requests as the server saw them (for a closer look at the timeline). */
  requests: ServerSnapshot["requests"];
  list: number;
  get: number;
  head: number;
  bytes: number;
  summary: {
    objects: number;
    traceFiles: number;
    alerts: number;
    failed: number;
    integrityViolations: number;
  };
}

const isoDay = (ms: number) => new Date(ms).toISOString();

/** One backfill by the built command line in its own process (bench/measure.mjs), counted at the proxy. */
async function backfill(root: string, s3: BenchServer, concurrency: number): Promise<Backfill> {
  const before = await s3.snapshot(Number.MAX_SAFE_INTEGER);
  const args = [
    "bench/measure.mjs",
    "scan",
    `obs://${BUCKET}/CloudTraces/${REGION}/`,
    "--since",
    isoDay(START),
    "--until",
    isoDay(START + DAYS * 86_400_000 - 1000),
    "--public-key",
    path.join(root, "fixtures", "keys", "test-public.pem"),
    "--allow",
    "192.0.2.0/24",
    "--notify",
    "none",
    "--format",
    "json",
    "--concurrency",
    String(concurrency),
  ];
  const env = {
    PATH: process.env.PATH ?? "",
    OBS_ENDPOINT: s3.endpoint,
    HUAWEICLOUD_SDK_AK: S3_CREDENTIALS.accessKeyId,
    HUAWEICLOUD_SDK_SK: S3_CREDENTIALS.secretAccessKey,
  };
  // Asynchronously: this process serves s3rver and the proxy while the scan runs.
  const start = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.on("data", (c: Buffer) => err.push(c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (code !== 0 && code !== 1)
    throw new Error(`OBS backfill exited ${code}: ${Buffer.concat(err).toString().slice(-2000)}`);
  const report = JSON.parse(Buffer.concat(out).toString()) as { summary: Backfill["summary"] };
  const measured = JSON.parse(/MEASURE (.*)/.exec(Buffer.concat(err).toString())![1]!) as {
    cpuSeconds: number;
  };
  const after = await s3.snapshot(before.next);
  return {
    seconds,
    busy: (after.busyMs - before.busyMs) / 1000,
    cpu: measured.cpuSeconds,
    serverCpu: after.cpuSeconds - before.cpuSeconds,
    proxyCpu:
      after.proxyCpuSeconds !== undefined && before.proxyCpuSeconds !== undefined
        ? after.proxyCpuSeconds - before.proxyCpuSeconds
        : undefined,
    timeline: timeline(after.requests, after.now),
    requests: after.requests,
    list: after.counts.list - before.counts.list,
    get: after.counts.get - before.counts.get,
    head: after.counts.head - before.counts.head,
    bytes: after.counts.bytes - before.counts.bytes,
    summary: report.summary,
  };
}

/** Requests open at once, averaged over each `SAMPLE_MS` from the first request's arrival to the last close. */
function timeline(requests: ServerSnapshot["requests"], now: number): number[] {
  if (requests.length === 0) return [];
  const start = Math.min(...requests.map((r) => r.arrived));
  const end = Math.max(...requests.map((r) => r.closed || now));
  const open = new Array<number>(Math.ceil((end - start) / SAMPLE_MS) || 1).fill(0);
  for (const r of requests) {
    const from = r.arrived - start;
    const to = (r.closed || now) - start;
    for (let b = Math.floor(from / SAMPLE_MS); b * SAMPLE_MS < to && b < open.length; b++)
      open[b]! += Math.min(to, (b + 1) * SAMPLE_MS) - Math.max(from, b * SAMPLE_MS);
  }
  return open.map((ms) => ms / SAMPLE_MS);
}

/** Share of samples below a fraction of the slots, and the timeline as one digit a sample (0-9: tenths full). */
function describeTimeline(
  samples: number[],
  concurrency: number,
): { low: number; half: number; strip: string } {
  const below = (f: number) =>
    samples.filter((n) => n < f * concurrency).length / Math.max(1, samples.length);
  const strip = samples.map((n) => String(Math.min(9, Math.floor((n / concurrency) * 10)))).join("");
  return { low: below(0.5), half: below(0.9), strip };
}

/**
 * A sequential reader, as `aws cloudtrail validate-logs` reads: one request at a time through the same SDK,
 * listing each day folder and reading every digest (with its metadata) and every IAM file. It reads the first
 * first `days` days; its time a request is what a month of the scan's requests would take it.
 */
async function sequentialPerRequest(s3: BenchServer, days: number): Promise<number> {
  const obs = new ObsBucket(BUCKET, { endpoint: s3.endpoint, ...S3_CREDENTIALS });
  const start = process.hrtime.bigint();
  let requests = 0;
  try {
    for (let d = 0; d < days; d++) {
      const day = isoDay(START + d * 86_400_000)
        .slice(0, 10)
        .replace(/-/g, "/");
      const objects = await obs.listAll(`CloudTraces/${REGION}/${day}/`);
      requests += Math.max(1, Math.ceil(objects.length / 1000));
      for (const o of objects) {
        if (o.key.includes("/Digest/")) {
          await obs.getText(o.key);
          await obs.metadata(o.key);
          requests += 2;
        } else if (o.key.includes("/IAM/")) {
          await obs.getText(o.key);
          requests++;
        }
      }
    }
  } finally {
    obs.close();
  }
  return Number(process.hrtime.bigint() - start) / 1e9 / requests;
}

/**
 * The OBS rows and verdicts: the backfill at `concurrencies` (the first is the default, judged), each against
 * its bound and the sequential reader. s3rver and the proxy run each in a process of its own unless
 * BENCH_OBS_SERVER says otherwise (`process`: both in one; `inline`: in the bench's process, as before; several,
 * comma-separated: each in turn, the first judged). Each run's
 * in-flight timeline goes to `<cacheDir>/obs-timeline-<where>-<c>.txt` (one digit a 100 ms sample).
 */
export async function obsBench(
  root: string,
  cacheDir: string,
  concurrencies: number[],
): Promise<{ rows: Row[]; verdicts: Array<[string, boolean]> }> {
  const keyPem = readFileSync(path.join(root, "fixtures", "keys", "test-private.pem"), "utf8");
  const store = await cachedStore(cacheDir, keyPem);
  const wheres = (process.env.BENCH_OBS_SERVER ?? "split").split(",").map((w) => {
    if (w !== "process" && w !== "inline" && w !== "split")
      throw new Error(
        `BENCH_OBS_SERVER: "${w}" must be split, process or inline (or several, comma-separated)`,
      );
    return w;
  });
  const sequentialDays = Number(process.env.BENCH_OBS_SEQUENTIAL_DAYS ?? SEQUENTIAL_DAYS);
  const rows: Row[] = [];
  const verdicts: Array<[string, boolean]> = [];
  for (const [w, where] of wheres.entries()) {
    const s3 = await startBenchServer(where, {
      buckets: [BUCKET],
      directory: store.dir,
      latencyMs: LATENCY_MS,
      bytesPerSecond: BYTES_PER_SECOND,
    });
    const serverLabel = {
      split: "s3rver and proxy in processes of their own",
      process: "server in its own process",
      inline: "server in the bench process",
    }[where];
    try {
      console.error(
        `cts-audit bench: OBS backfill, ${store.objects} objects, ${LATENCY_MS} ms a request, ${(BYTES_PER_SECOND / 1e6).toFixed(1)} MB/s, ${serverLabel} ...`,
      );
      const perRequest = sequentialDays > 0 ? await sequentialPerRequest(s3, sequentialDays) : NaN;
      const needed = DAYS * (FILES_PER_DAY + 24 * SERVICES.length);
      // Each concurrency by this build, then by each build BENCH_OBS_COMPARE names (another checkout, built): run
      // side by side, a change is measured under the same load.
      const builds = [root, ...(process.env.BENCH_OBS_COMPARE?.split(",").filter(Boolean) ?? [])];
      const runs = concurrencies.flatMap((c) => builds.map((build) => ({ c, build })));
      for (const [i, { c, build }] of runs.entries()) {
        const b = await backfill(build, s3, c);
        if (b.summary.failed > 0 || b.summary.integrityViolations > 0)
          throw new Error(`bench: the OBS backfill failed objects (${JSON.stringify(b.summary)})`);
        const requests = b.list + b.get + b.head;
        const latencyBound = (requests * LATENCY_MS) / 1000 / c;
        const bandwidthBound = b.bytes / BYTES_PER_SECOND;
        const bound = Math.max(latencyBound, bandwidthBound);
        const sequential = requests * perRequest;
        // How full the run kept its `c` slots: requests' open time at the proxy over c x wall time. On a loaded
        // machine s3rver answers late and the bound above cannot be reached by any client; this can.
        const utilisation = b.busy / (c * b.seconds);
        const t = describeTimeline(b.timeline, c);
        const tag = `${where}-${c}${build === root ? "" : `-${path.basename(build)}`}`;
        writeFileSync(path.join(cacheDir, `obs-timeline-${tag}.txt`), `${t.strip}\n`);
        writeFileSync(path.join(cacheDir, `obs-requests-${tag}.json`), JSON.stringify(b.requests));
        // Both sides' CPU over the run's time, and what the target's pace would need: over two cores (this
        // machine) or over one for s3rver's own thread (it serves one request at a time), the bench measures
        // the machine or s3rver, not the scan.
        const cores = (b.cpu + b.serverCpu) / b.seconds;
        const target = bound / 0.8;
        const s3rverThread = b.proxyCpu !== undefined ? (b.serverCpu - b.proxyCpu) / target : undefined;
        rows.push([
          `OBS backfill, ${DAYS} days, concurrency ${c}${wheres.length > 1 ? `, ${serverLabel}` : ""}${build === root ? "" : `, build ${build}`}`,
          `${b.seconds.toFixed(1)} s`,
          `${(bound / b.seconds).toFixed(2)}x bound`,
          `${requests} requests (${b.list} list, ${b.get} get, ${b.head} head), bound ${bound.toFixed(1)} s; ` +
            (sequentialDays > 0
              ? `${(sequential / b.seconds).toFixed(1)}x a sequential reader (${sequential.toFixed(0)} s); `
              : "") +
            `${(utilisation * 100).toFixed(0)}% of ${c} in flight (${(t.low * 100).toFixed(0)}% of ${SAMPLE_MS} ms samples under half, ${(t.half * 100).toFixed(0)}% under 90%), ${((b.busy / requests) * 1000).toFixed(0)} ms a request; ` +
            `CPU ${b.cpu.toFixed(1)} s scan (${((b.cpu / requests) * 1000).toFixed(2)} ms/request) + ${b.serverCpu.toFixed(1)} s server (${((b.serverCpu / requests) * 1000).toFixed(2)} ms/request${b.proxyCpu !== undefined ? `, of which proxy ${b.proxyCpu.toFixed(1)} s` : ""}) = ${cores.toFixed(2)} cores busy; at 0.8x the bound both sides would need ${((b.cpu + b.serverCpu) / target).toFixed(2)} cores${s3rverThread !== undefined ? ` and s3rver's one thread ${(s3rverThread * 100).toFixed(0)}% of a core` : ""}`,
        ]);
        console.error(
          `  concurrency ${c}${build === root ? "" : ` (${build})`}: ${b.seconds.toFixed(1)} s, ${(bound / b.seconds).toFixed(2)}x its bound, ${(utilisation * 100).toFixed(0)}% in flight, CPU ${b.cpu.toFixed(1)} s scan + ${b.serverCpu.toFixed(1)} s server`,
        );
        console.error(`  in flight per ${SAMPLE_MS} ms (0-9: tenths of ${c}): ${t.strip.slice(0, 400)}`);
        if (w === 0 && i === 0) {
          verdicts.push([
            `OBS backfill >= 0.8x of its bound at concurrency ${c} (${(bound / b.seconds).toFixed(2)}x)`,
            bound / b.seconds >= 0.8,
          ]);
          verdicts.push([
            `OBS backfill downloads only digests and IAM files (${b.get} GETs for ${needed})`,
            b.get === needed,
          ]);
        }
      }
      if (sequentialDays > 0)
        rows.push([
          `sequential reader (one request at a time)${wheres.length > 1 ? `, ${serverLabel}` : ""}`,
          `${(perRequest * 1000).toFixed(1)} ms/request`,
          "",
          `${sequentialDays} days read, scaled to each run's requests`,
        ]);
    } finally {
      await s3.stop();
    }
  }
  return { rows, verdicts };
}
