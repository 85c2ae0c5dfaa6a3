import { writeSync } from "node:fs";
import { buildNotifier, buildSources, buildState } from "./adapters.js";
import { parseCli, type Env } from "./config.js";
import { parseObjectKey } from "./cts/objectKey.js";
import { ConfigError, describeError } from "./errors.js";
import type { Report } from "./report/types.js";
import { run, type RunDeps } from "./run.js";
import { MemorySource } from "./sources/MemorySource.js";
import type { SourceObject } from "./sources/types.js";

/** The FunctionGraph context methods cts-audit uses (reference §4). All are optional to keep tests honest. */
export interface FunctionContext {
  getUserData?(key: string): string | undefined;
  getSecurityAccessKey?(): string;
  getSecuritySecretKey?(): string;
  getSecurityToken?(): string;
  getProjectID?(): string;
  getRemainingTimeInMilliSeconds?(): number;
  getRequestID?(): string;
}

/** What the function returns: a summary per run it made. */
export interface HandlerResult {
  ok: boolean;
  /** Keys of the event that were not CTS trace or digest files (its own state objects among them). */
  ignored: string[];
  runs: Array<{
    kind: "trace" | "digest" | "cts-event";
    objects: string[];
    summary: Report["summary"];
    exitCode: number;
    notStarted: string[];
    notifications: Report["notifications"];
  }>;
  error?: string;
}

/** Variables the function reads from its configuration (user data) or environment. */
const VARIABLES = [
  "SMN_Topic",
  "RegionName",
  "IP",
  "SMN_TOPIC_URN",
  "SMN_ENDPOINT",
  "OBS_ENDPOINT",
  "CTS_AUDIT_STATE",
  "CTS_AUDIT_PUBLIC_KEY",
  "CTS_AUDIT_ALLOW",
  "CTS_AUDIT_EVENTS",
  "CTS_AUDIT_VERIFY",
  "CTS_AUDIT_TIMEOUT",
];

// Stop starting objects when less than this is left, so the function can still notify and save state.
const TIME_RESERVE_MS = 20_000;

/** One JSON log line, written synchronously: FunctionGraph may freeze the process as soon as the handler returns. */
function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  writeSync(1, `${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
}

function environment(context: FunctionContext): Env {
  const env: Record<string, string | undefined> = {};
  for (const name of VARIABLES) env[name] = context.getUserData?.(name) || process.env[name];
  // Temporary credentials of the function's agency; environment variables as a fallback for local runs.
  env.HUAWEICLOUD_SDK_AK = context.getSecurityAccessKey?.() || process.env.HUAWEICLOUD_SDK_AK;
  env.HUAWEICLOUD_SDK_SK = context.getSecuritySecretKey?.() || process.env.HUAWEICLOUD_SDK_SK;
  env.HUAWEICLOUD_SDK_SECURITY_TOKEN =
    context.getSecurityToken?.() || process.env.HUAWEICLOUD_SDK_SECURITY_TOKEN;
  env.HUAWEICLOUD_SDK_PROJECT_ID = context.getProjectID?.() || process.env.HUAWEICLOUD_SDK_PROJECT_ID;
  return env;
}

interface ObsRecord {
  bucket: string;
  key: string;
  size: number;
  etag?: string;
}

/** OBS trigger records (`Records[].s3`, also `Records[].obs`), keys URL-decoded. */
export function obsRecords(event: unknown): ObsRecord[] {
  const records = (event as { Records?: unknown })?.Records;
  if (!Array.isArray(records)) return [];
  const out: ObsRecord[] = [];
  for (const r of records as Array<Record<string, unknown>>) {
    const body = (r.s3 ?? r.obs) as
      { bucket?: { name?: string }; object?: { key?: string; size?: number; eTag?: string } } | undefined;
    const bucket = body?.bucket?.name;
    const rawKey = body?.object?.key;
    if (!bucket || !rawKey) continue;
    let key = rawKey;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, " "));
    } catch {
      // Not URL-encoded after all (a literal %): keep it as it came.
    }
    out.push({
      bucket,
      key,
      size: Number(body?.object?.size ?? 0),
      etag: body?.object?.eTag?.replace(/"/g, "").toLowerCase() || undefined,
    });
  }
  return out;
}

function configFor(args: string[], env: Env) {
  const topic = env.SMN_TOPIC_URN || env.SMN_Topic;
  const argv = [...args, "--format", "json", "--notify", topic ? "smn" : "none", "--unsent-dir", "/tmp"];
  if (env.CTS_AUDIT_EVENTS) argv.push("--events", env.CTS_AUDIT_EVENTS);
  // Seconds per OBS/SMN request (the CLI's --timeout): a function's time is short, 30 s a request may not fit.
  if (env.CTS_AUDIT_TIMEOUT) argv.push("--timeout", env.CTS_AUDIT_TIMEOUT);
  // A digest event is a verification: the scan's --verify setting does not apply to it.
  if (env.CTS_AUDIT_VERIFY && args[0] === "scan") argv.push("--verify", env.CTS_AUDIT_VERIFY);
  const request = parseCli(argv, env);
  if (request.kind !== "run") throw new Error("unexpected CLI request");
  return request.config;
}

/**
 * FunctionGraph entry point. A trace file is scanned and alerted at once (integrity `pending` until its digest
 * lands); a digest file verifies its chain link and the files of the hour it covers, and alerts on violations;
 * the sample's CTS trigger event (`{"cts": {...}}`) is audited as one trace. Every other key is ignored, so the
 * function never triggers itself on its own state objects.
 */
export async function handler(event: unknown, context: FunctionContext = {}): Promise<HandlerResult> {
  const result: HandlerResult = { ok: true, ignored: [], runs: [] };
  const env = environment(context);
  const deps = (): Omit<RunDeps, "sources"> => ({
    warn: (message) => log("warn", message),
    shouldStop: () => {
      const left = context.getRemainingTimeInMilliSeconds?.();
      return left !== undefined && left < TIME_RESERVE_MS
        ? `function time running out (${left} ms left)`
        : undefined;
    },
  });
  const execute = async (
    kind: HandlerResult["runs"][number]["kind"],
    args: string[],
    only?: SourceObject[],
    memory?: MemorySource,
  ) => {
    const config = configFor(args, env);
    const report = await run(config, {
      ...deps(),
      sources: memory ? [memory] : await buildSources(config, only),
      notifier: await buildNotifier(config),
      state: await buildState(config),
    });
    const summary = {
      kind,
      objects: report.files.map((f) => f.object),
      summary: report.summary,
      exitCode: report.exitCode,
      notStarted: report.files.filter((f) => f.reason?.startsWith("not started")).map((f) => f.object),
      notifications: report.notifications,
    };
    log(report.exitCode === 0 ? "info" : "warn", `${kind} run finished`, {
      ...report.summary,
      exitCode: report.exitCode,
      failed: report.files
        .filter((f) => f.status === "failed")
        .map((f) => ({ object: f.object, error: f.error })),
      notifications: report.notifications,
    });
    result.runs.push(summary);
    if (report.exitCode === 1 || summary.notStarted.length > 0) result.ok = false;
  };

  try {
    const cts = (event as { cts?: unknown })?.cts;
    if (cts && typeof cts === "object") {
      const source = new MemorySource(
        "cts-trigger",
        new Map([["cts-event.json", Buffer.from(JSON.stringify({ cts }))]]),
      );
      await execute("cts-event", ["scan", "cts-trigger", "--verify", "off"], undefined, source);
      return result;
    }
    const records = obsRecords(event);
    const traces = new Map<string, SourceObject[]>();
    for (const r of records) {
      const key = parseObjectKey(r.key);
      if (key.kind === "trace") {
        const list = traces.get(r.bucket) ?? [];
        list.push({ key: r.key, size: r.size, etag: r.etag });
        traces.set(r.bucket, list);
      } else if (key.kind === "digest" && key.uploadTime) {
        // The hour the digest covers, with its neighbours: the previous digest (its chain link) and the files.
        const region = /^(.*?CloudTraces\/[^/]+\/)/.exec(r.key)?.[1] ?? "";
        const since = new Date(key.uploadTime.getTime() - 70 * 60_000).toISOString();
        const until = new Date(key.uploadTime.getTime() + 60_000).toISOString();
        await execute("digest", [
          "verify",
          `obs://${r.bucket}/${region}`,
          "--since",
          since,
          "--until",
          until,
        ]);
      } else {
        result.ignored.push(r.key);
      }
    }
    for (const [bucket, objects] of traces) await execute("trace", ["scan", `obs://${bucket}`], objects);
    if (result.ignored.length)
      log("info", "ignored objects that are not CTS trace or digest files", { keys: result.ignored });
    if (records.length === 0) log("warn", "event has no OBS records and no cts trace: nothing to do");
  } catch (err) {
    result.ok = false;
    result.error =
      err instanceof ConfigError ? `configuration: ${err.problems.join("; ")}` : describeError(err);
    log("error", result.error);
  }
  return result;
}
