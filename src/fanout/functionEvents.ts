import { buildLedger, buildNotifier } from "../adapters.js";
import { FUNCTION_URN, parseTime } from "../config.js";
import { parseObsUrl } from "../sources/obsUrl.js";
import { ConfigError } from "../errors.js";
import type { FunctionConfig } from "../functionConfig.js";
import { coordinate, FAN_OUT_DEFAULTS } from "./Coordinator.js";
import { FunctionGraphClient } from "./FunctionGraphClient.js";
import { fanOutRequestOf, isShardEvent, shardEventProblem } from "./Manifest.js";
import { runShard } from "./Worker.js";

// The coordinator function stops waiting this long before its timeout, and hands over to a fresh invocation.
const HANDOVER_RESERVE_MS = 30_000;

/**
 * A fan-out event in the function: a shard (the worker), or a request to coordinate a run (a nightly timer). A
 * coordinator that runs out of time invokes the function again with the same request, windows made absolute, so
 * that the next invocation resumes the same run.
 */
export async function fanOutEvent(
  event: unknown,
  config: FunctionConfig,
  env: { fgsEndpoint?: string; remainingMs?: () => number | undefined; log: (message: string) => void },
): Promise<Record<string, unknown>> {
  const cloud = config.cloud;
  const connection = {
    endpoint: cloud.obsEndpoint!,
    accessKeyId: cloud.credentials!.accessKeyId,
    secretAccessKey: cloud.credentials!.secretAccessKey,
    securityToken: cloud.credentials!.securityToken,
    timeoutSeconds: cloud.timeoutSeconds,
  };
  const shouldStop = () => {
    const left = env.remainingMs?.();
    return left !== undefined && left < HANDOVER_RESERVE_MS
      ? `function time running out (${left} ms left)`
      : undefined;
  };
  if (isObject(event) && "fanOutShard" in event) {
    if (!isShardEvent(event)) throw new ConfigError([shardEventProblem(event)!]);
    const outcome = await runShard(event, connection, { warn: env.log, shouldStop });
    return { shard: outcome };
  }
  const found = fanOutRequestOf(event);
  if (!found || "problem" in found)
    throw new ConfigError([
      found?.problem ?? 'not a fan-out event: give {"fanOut": {...}} or {"fanOutShard": {...}}',
    ]);
  const request = found.request;
  const problems: string[] = [];
  const now = new Date();
  const since = request.since ? parseTime(request.since, now) : undefined;
  const until = request.until ? parseTime(request.until, now) : undefined;
  if (request.since && !since)
    problems.push(
      `fanOut.since: "${String(request.since).slice(0, 80)}" is not a time or duration such as 24h`,
    );
  if (request.until && !until)
    problems.push(`fanOut.until: "${String(request.until).slice(0, 80)}" is not a time or duration`);
  if (
    !Array.isArray(request.sources) ||
    request.sources.length === 0 ||
    !request.sources.every((s) => typeof s === "string" && parseObsUrl(s) !== undefined)
  )
    problems.push("fanOut.sources: give one or more obs://bucket/prefix locations");
  if (
    request.concurrency !== undefined &&
    (!Number.isInteger(request.concurrency) || request.concurrency < 1 || request.concurrency > 100)
  )
    problems.push(
      `fanOut.concurrency: ${JSON.stringify(request.concurrency)} must be a whole number from 1 to 100`,
    );
  if (typeof request.functionUrn !== "string" || !FUNCTION_URN.test(request.functionUrn))
    problems.push(
      "fanOut.functionUrn: give this function's URN (urn:fss:<region>:<project>:function:<package>:<name>:<version>)",
    );
  if (!config.state?.startsWith("obs://"))
    problems.push(
      "CTS_AUDIT_STATE: a fanned-out run keeps its manifest and results under the state prefix: set it to obs://bucket/prefix",
    );
  const endpoint =
    env.fgsEndpoint ?? (cloud.region ? `https://functiongraph.${cloud.region}.myhuaweicloud.com` : undefined);
  if (!endpoint) problems.push("FunctionGraph endpoint unknown: set RegionName (or FUNCTIONGRAPH_ENDPOINT)");
  if (!cloud.credentials?.projectId)
    problems.push("no project ID in the function's context: invocation needs it");
  if (problems.length) throw new ConfigError(problems);
  const client = new FunctionGraphClient(endpoint!, cloud.credentials!, {
    timeoutMs: cloud.timeoutSeconds * 1000,
  });
  const options = { ...config.options, since, until };
  const outcome = await coordinate(
    request.sources,
    options,
    {
      ...FAN_OUT_DEFAULTS,
      functionUrn: request.functionUrn,
      concurrency: request.concurrency ?? FAN_OUT_DEFAULTS.concurrency,
    },
    {
      connection,
      state: config.state!,
      invoker: client,
      notifier: await buildNotifier(config.notify, cloud),
      ledger: await buildLedger(config.state, cloud, config.stateRetentionMs),
      warn: env.log,
      shouldStop,
      onProgress: (p) =>
        env.log(
          `fan-out ${p.runId}: ${p.done}/${p.shards} shards done, ${p.failed} failed, ${p.inFlight} in flight`,
        ),
    },
  );
  if ("paused" in outcome) {
    await client.invokeAsync(request.functionUrn, {
      fanOut: { ...request, since: since?.toISOString(), until: until?.toISOString() },
    } as never);
    return { fanOut: { ...outcome, handedOver: true } };
  }
  return {
    fanOut: { summary: outcome.summary, exitCode: outcome.exitCode, notifications: outcome.notifications },
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
