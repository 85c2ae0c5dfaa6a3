/**
 * The OBS latency bench's server (s3rver behind the latency and bandwidth proxy), either in the bench's own process
 * or in a process of its own. In its own process the server's CPU (s3rver's XML and file reads) neither stalls the
 * bench's timers nor is mixed into its figures, and it is measured alone: `cpuSeconds` is then the server's only.
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
  /** CPU seconds of the process serving s3rver and the proxy, since it started. */
  cpuSeconds: number;
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
  /** Where the server runs: `inline` (the bench process) or `process` (its own). */
  readonly where: "inline" | "process";
  snapshot(from: number): Promise<ServerSnapshot>;
  stop(): Promise<void>;
}

type Options = LinkOptions & { buckets: string[] };

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

/** Starts the bench's server in this process (`inline`) or in a child process of its own (`process`). */
export async function startBenchServer(where: "inline" | "process", options: Options): Promise<BenchServer> {
  if (where === "inline") {
    const s3 = await S3TestServer.start(options.buckets, options);
    return {
      endpoint: s3.endpoint,
      where,
      snapshot: (from) => Promise.resolve(snapshotOf(s3, from)),
      stop: () => s3.stop(),
    };
  }
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(options)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const replies: Array<(message: unknown) => void> = [];
  child.on("message", (m) => replies.shift()?.(m));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const ask = <T>(message: unknown): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      replies.push((m) => resolve(m as T));
      void exited.then((code) => reject(new Error(`bench server process exited ${code}`)));
      if (message !== undefined) child.send(message as object);
    });
  const { endpoint } = await ask<{ endpoint: string }>(undefined);
  return {
    endpoint,
    where,
    snapshot: (from) => ask<ServerSnapshot>({ type: "snapshot", from }),
    stop: async () => {
      child.send({ type: "stop" });
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
  process.send!({ endpoint: s3.endpoint });
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send)
  void serve(JSON.parse(process.argv[2]!) as Options);
