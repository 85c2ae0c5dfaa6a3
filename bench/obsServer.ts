/**
 * The OBS latency bench's server (s3rver behind the latency and bandwidth proxy): in the bench's own process
 * (`inline`), in a process of its own (`process`), or s3rver and the proxy each in its own (`split`). Out of the
 * bench's process the server's CPU is measured alone; split, s3rver's synchronous listing walks (it reads and
 * stats a whole day folder in one go) no longer stall the proxy's timers and clock, so the proxy holds every
 * answer to its 30 ms and times requests as a client sees them.
 *
 * Run as a child (`node --import tsx bench/obsServer.ts '<json LinkOptions & {buckets}>'`) it answers snapshot and
 * stop messages over IPC.
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { S3TestServer, type LinkOptions } from "../test/support/s3Server.js";

/** What the server saw since a given request: counts, open times, and its CPU. */
export interface ServerSnapshot {
  counts: ReturnType<S3TestServer["counts"]>;
  busyMs: number;
  /** CPU seconds of the process(es) serving s3rver and the proxy, since they started. */
  cpuSeconds: number;
  /** Of which the proxy's, when it runs in a process of its own (`split`). */
  proxyCpuSeconds?: number;
  /** performance.now() of the server's process when the snapshot was taken. */
  now: number;
  /** Requests from index `from` on: arrival and close (0 while open), in the server's clock, and the URL. */
  requests: Array<{ arrived: number; closed: number; method: string; url: string }>;
  /** Index of the next request (pass it as `from` to see only later ones). */
  next: number;
}

/** The server as the bench uses it, wherever it runs. */
export interface BenchServer {
  readonly endpoint: string;
  /** Where the server runs: `inline` (the bench process), `process` (its own), `split` (s3rver, proxy). */
  readonly where: Where;
  snapshot(from: number): Promise<ServerSnapshot>;
  stop(): Promise<void>;
}

type Options = LinkOptions & { buckets: string[] };
export type Where = "inline" | "process" | "split";

function snapshotOf(s3: S3TestServer, from: number): ServerSnapshot {
  const cpu = process.cpuUsage();
  return {
    counts: s3.counts(),
    busyMs: s3.busyMs,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    now: performance.now(),
    requests: s3.requests
      .slice(from)
      .map((r) => ({ arrived: r.arrived, closed: r.closed, method: r.method, url: r.url })),
    next: s3.requests.length,
  };
}

/** Starts the bench's server where asked (see the file's comment). */
export async function startBenchServer(where: Where, options: Options): Promise<BenchServer> {
  if (where === "inline") {
    const s3 = await S3TestServer.start(options.buckets, options);
    return {
      endpoint: s3.endpoint,
      where,
      snapshot: (from) => Promise.resolve(snapshotOf(s3, from)),
      stop: () => s3.stop(),
    };
  }
  if (where === "process") return { ...(await child(options)), where };
  // s3rver alone (its own proxy idle, no latency), then the proxy alone in front of it.
  const store = await child({
    buckets: options.buckets,
    ...(options.directory ? { directory: options.directory } : {}),
  });
  const proxy = await child({ ...options, directory: undefined, upstream: store.directEndpoint });
  return {
    endpoint: proxy.endpoint,
    where,
    snapshot: async (from) => {
      const [p, s] = await Promise.all([proxy.snapshot(from), store.snapshot(Number.MAX_SAFE_INTEGER)]);
      return { ...p, cpuSeconds: p.cpuSeconds + s.cpuSeconds, proxyCpuSeconds: p.cpuSeconds };
    },
    stop: async () => {
      await proxy.stop();
      await store.stop();
    },
  };
}

/** A server process: s3rver and the proxy, or the proxy alone (`upstream`). */
async function child(options: Options): Promise<Omit<BenchServer, "where"> & { directEndpoint: string }> {
  const proc = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const replies: Array<(message: unknown) => void> = [];
  proc.on("message", (m) => replies.shift()?.(m));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", resolve));
  const ask = <T>(message: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      replies.push((m) => resolve(m as T));
      void exited.then((code) => reject(new Error(`bench server process exited ${code}`)));
      if (message !== undefined) proc.send(message as object);
    });
  const { endpoint, directEndpoint } = await ask<{ endpoint: string; directEndpoint: string }>(undefined);
  return {
    endpoint,
    directEndpoint,
    snapshot: (from) => ask<ServerSnapshot>({ type: "snapshot", from }),
    stop: async () => {
      proc.send({ type: "stop" });
      await exited;
    },
  };
}

async function serve(options: Options): Promise<void> {
  const s3 = await S3TestServer.start(options.buckets, options);
  process.on("message", (m: { type: string; from?: number }) => {
    if (m.type === "snapshot") process.send!(snapshotOf(s3, m.from ?? 0));
    else if (m.type === "stop") void s3.stop().then(() => process.disconnect());
  });
  process.send!({ endpoint: s3.endpoint, directEndpoint: s3.directEndpoint });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send)
  void serve(JSON.parse(process.argv[2]!) as Options);
