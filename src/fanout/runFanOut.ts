import { obsConnection } from "../adapters.js";
import type { Config } from "../config.js";
import type { RunDeps } from "../engine/types.js";
import { coordinate, FAN_OUT_DEFAULTS, type CoordinatorDeps, type FanOutProgress } from "./Coordinator.js";
import { FunctionGraphClient } from "./FunctionGraphClient.js";

/** What the command line hands a fanned-out run: its sinks, as it hands them to `run()`. */
export type FanOutCliDeps = Pick<
  RunDeps,
  "report" | "notifier" | "ledger" | "saveUnsent" | "warn" | "shouldStop" | "signalExitCode" | "ledgerWaitMs"
> & {
  /** One line of progress for a person (stderr); undefined for `--quiet`. */
  progress?: (line: string) => void;
  /** Overrides for tests and the bench (poll interval, deadline, shard size); the defaults otherwise. */
  settings?: Partial<typeof FAN_OUT_DEFAULTS>;
  /** The invoker; a signed FunctionGraphClient on `config.fanOut.endpoint` otherwise. */
  invoker?: CoordinatorDeps["invoker"];
};

/**
 * `cts-audit scan obs://... --fan-out <function-urn> --state obs://...`: the coordinator (src/fanout/Coordinator.ts)
 * with the command line's configuration. The report goes to `deps.report` as one run's would; the exit code is the
 * reduced report's. Interrupted (SIGINT/SIGTERM) while waiting for shards, it says how to resume and exits with
 * the signal's code: the shards already invoked keep running, and the same command finds their results.
 */
export async function runFanOut(config: Config, deps: FanOutCliDeps): Promise<{ exitCode: number }> {
  const fanOut = config.fanOut!;
  const cloud = config.cloud.credentials!;
  const invoker =
    deps.invoker ??
    new FunctionGraphClient(fanOut.endpoint, cloud, { timeoutMs: config.cloud.timeoutSeconds * 1000 });
  let last = "";
  const onProgress = (p: FanOutProgress) => {
    const line = `fan-out ${p.runId}: ${p.done}/${p.shards} shards done, ${p.failed} failed, ${p.inFlight} in flight, ${p.invocations} invocations`;
    // Once per change: the coordinator polls every few seconds, and a log of identical lines says nothing.
    if (line !== last) deps.progress?.(line);
    last = line;
  };
  const outcome = await coordinate(
    config.sources,
    config,
    {
      ...FAN_OUT_DEFAULTS,
      ...deps.settings,
      functionUrn: fanOut.functionUrn,
      concurrency: fanOut.concurrency,
      ...(fanOut.shardObjects !== undefined ? { shardObjects: fanOut.shardObjects } : {}),
    },
    {
      connection: obsConnection(config.cloud),
      state: config.state!,
      invoker,
      onProgress,
      ...(deps.shouldStop ? { shouldStop: deps.shouldStop } : {}),
      ...(deps.report ? { report: deps.report } : {}),
      ...(deps.notifier ? { notifier: deps.notifier } : {}),
      ...(deps.ledger ? { ledger: deps.ledger } : {}),
      ...(deps.saveUnsent ? { saveUnsent: deps.saveUnsent } : {}),
      ...(deps.warn ? { warn: deps.warn } : {}),
      ...(deps.ledgerWaitMs !== undefined ? { ledgerWaitMs: deps.ledgerWaitMs } : {}),
    },
  );
  if ("paused" in outcome) {
    deps.warn?.(
      `fan-out ${outcome.runId} stopped waiting (${outcome.paused}); invoked shards keep running: run the same command (same absolute --since/--until) again to resume from ${outcome.manifest}`,
    );
    return { exitCode: deps.signalExitCode?.() ?? 1 };
  }
  return { exitCode: outcome.exitCode };
}
