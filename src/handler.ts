import { writeSync } from "node:fs";
import { redactSecrets, registerSecrets } from "./safeText.js";
import { buildLedger, buildNotifier, buildSources, readObsText } from "./adapters.js";
import type { Env } from "./config.js";
import { parseObjectKey } from "./cts/objectKey.js";
import type { EngineOptions } from "./engine/types.js";
import { ConfigError, describeError } from "./errors.js";
import { applyRulesText, FUNCTION_VARIABLES, functionConfig, type FunctionConfig } from "./functionConfig.js";
import { loadRulesParser } from "./detect/rulesParser.js";
import type { Report } from "./report/types.js";
import { run, type RunDeps } from "./run.js";
import { MemorySource } from "./sources/MemorySource.js";
import { isFanOutEvent } from "./fanout/Manifest.js";
import type { ObjectSource, SourceObject } from "./sources/types.js";

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
  /** False when anything was not done: a bad record, a configuration error, a failed object or run. */
  ok: boolean;
  /** Keys of the event that were not CTS trace or digest files (its own state objects among them). */
  ignored: string[];
  /**
   * CTS trace and digest files the event says were deleted (`ObjectRemoved:*`): not read (they are gone), named in
   * the log as a warning (deleting audit files weakens the trail); `verify` reports them missing.
   */
  removed: string[];
  /** Records that could not be read, by their index in `Records`, and why; the other records were processed. */
  rejected: Array<{ index: number; reason: string }>;
  runs: Array<{
    kind: "trace" | "digest" | "cts-event";
    objects: string[];
    summary: Report["summary"];
    exitCode: number;
    notStarted: string[];
    notifications: Report["notifications"];
  }>;
  /** A fan-out event's outcome: the shard a worker ran, or the coordinated run. */
  fanOut?: Record<string, unknown>;
  /** What stopped the event or a run (configuration, an unreadable event, a run that threw), `; `-joined. */
  error?: string;
}

// Stop starting objects when less than this is left, so the function can still notify and save state.
const TIME_RESERVE_MS = 20_000;
// How many alerts, keys and failures one log line names: a log line must stay readable and under the log
// service's line limit whatever the event.
const LOG_LIST_LIMIT = 20;

/** One JSON log line, written synchronously: FunctionGraph may freeze the process as soon as the handler returns. */
function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  // Every string redacted (an error body may echo a request's credentials); JSON escapes control characters.
  const line = JSON.stringify(
    { time: new Date().toISOString(), level, message, ...fields },
    (_key, value: unknown) => (typeof value === "string" ? redactSecrets(value) : value),
  );
  writeSync(1, `${line}\n`);
}

/** At most LOG_LIST_LIMIT items, and how many more there were. */
function bounded<T>(items: readonly T[]): { shown: T[]; more: number } {
  return { shown: items.slice(0, LOG_LIST_LIMIT), more: Math.max(0, items.length - LOG_LIST_LIMIT) };
}

/**
 * Calls a context method the runtime may lack or break: what fails is recorded in `problems` (once per method)
 * and the call gives undefined, so that a broken context is reported, never thrown.
 */
function contextCall(
  context: unknown,
  method: keyof FunctionContext,
  problems: string[],
  ...args: string[]
): unknown {
  const fn =
    context !== null && typeof context === "object"
      ? (context as Record<string, unknown>)[method]
      : undefined;
  if (fn === undefined || fn === null) return undefined;
  const note = (problem: string) => {
    if (!problems.some((p) => p.startsWith(`context.${method}`))) problems.push(problem);
  };
  if (typeof fn !== "function") {
    note(`context.${method} is not a function`);
    return undefined;
  }
  try {
    return (fn as (...a: string[]) => unknown).apply(context, args);
  } catch (err) {
    note(`context.${method}() failed: ${describeError(err).slice(0, 200)}`);
    return undefined;
  }
}

const text = (value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? value : undefined;

/** The function's variables: user data, else process.env; credentials from the context, else process.env. */
function environment(context: unknown, problems: string[]): Env {
  const env: Record<string, string | undefined> = {};
  for (const name of FUNCTION_VARIABLES)
    env[name] = text(contextCall(context, "getUserData", problems, name)) ?? process.env[name];
  // Temporary credentials of the function's agency; environment variables as a fallback for local runs.
  const credential = (method: keyof FunctionContext, variable: string) =>
    text(contextCall(context, method, problems)) ?? process.env[variable];
  env.HUAWEICLOUD_SDK_AK = credential("getSecurityAccessKey", "HUAWEICLOUD_SDK_AK");
  env.HUAWEICLOUD_SDK_SK = credential("getSecuritySecretKey", "HUAWEICLOUD_SDK_SK");
  env.HUAWEICLOUD_SDK_SECURITY_TOKEN = credential("getSecurityToken", "HUAWEICLOUD_SDK_SECURITY_TOKEN");
  env.HUAWEICLOUD_SDK_PROJECT_ID = credential("getProjectID", "HUAWEICLOUD_SDK_PROJECT_ID");
  return env;
}

interface ObsRecord {
  bucket: string;
  key: string;
  size: number;
  etag?: string;
  /** `ObjectRemoved:*`: the object is gone (reference §4 `eventName`); nothing to read. */
  removed?: boolean;
}

/** The event's OBS records, each read on its own: the good ones with their index, the bad ones with why. */
export interface ObsRecords {
  records: Array<{ index: number; record: ObsRecord }>;
  rejected: Array<{ index: number; reason: string }>;
  /** Set when the event is no OBS trigger event at all (not an object, Records not an array). */
  problem?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const kindOf = (v: unknown) =>
  v === null || v === undefined
    ? String(v)
    : Array.isArray(v)
      ? "an array"
      : typeof v === "object"
        ? "an object"
        : `a ${typeof v}`;

/** Reads one OBS trigger record (`s3` or `obs`, reference §4.1); a string says why it cannot be used. */
function readRecord(r: unknown): ObsRecord | string {
  if (!isObject(r)) return `the record is ${kindOf(r)}, not an object`;
  if (r.s3 !== undefined && r.obs !== undefined) return "the record holds both s3 and obs: expected one";
  const field = r.s3 !== undefined ? "s3" : "obs";
  const body = r[field];
  if (body === undefined) return "the record has neither s3 nor obs";
  if (!isObject(body)) return `${field} is ${kindOf(body)}, not an object`;
  const bucket = isObject(body.bucket) ? body.bucket.name : undefined;
  if (typeof bucket !== "string" || bucket === "") return `${field}.bucket.name is not a bucket name`;
  const object = body.object;
  if (!isObject(object)) return `${field}.object is ${kindOf(object)}, not an object`;
  const rawKey = object.key;
  if (typeof rawKey !== "string" || rawKey === "")
    return `${field}.object.key is ${rawKey === "" ? "empty" : kindOf(rawKey)}, not an object key`;
  const size =
    object.size === undefined || object.size === null || object.size === "" ? 0 : Number(object.size);
  if (!Number.isSafeInteger(size) || size < 0) return `${field}.object.size is not a size in bytes`;
  let key = rawKey;
  try {
    key = decodeURIComponent(rawKey.replace(/\+/g, " "));
  } catch {
    // Not URL-encoded after all (a literal %): keep it as it came.
  }
  const etag =
    typeof object.eTag === "string" ? object.eTag.replace(/"/g, "").toLowerCase() || undefined : undefined;
  const removed = typeof r.eventName === "string" && r.eventName.startsWith("ObjectRemoved");
  return { bucket, key, size, etag, ...(removed ? { removed } : {}) };
}

/** Reads every record of an OBS trigger event (`Records[].s3`, also `Records[].obs`), keys URL-decoded. */
export function readObsRecords(event: unknown): ObsRecords {
  const out: ObsRecords = { records: [], rejected: [] };
  if (!isObject(event)) {
    out.problem = `the event is ${kindOf(event)}: expected an OBS trigger event ({"Records": [...]}) or a CTS trigger event ({"cts": {...}})`;
    return out;
  }
  if (event.Records === undefined) {
    out.problem =
      'the event has no Records and no cts: expected an OBS trigger event ({"Records": [...]}) or a CTS trigger event ({"cts": {...}})';
    return out;
  }
  if (!Array.isArray(event.Records)) {
    out.problem = `the event's Records is ${kindOf(event.Records)}, not an array of OBS records`;
    return out;
  }
  event.Records.forEach((r: unknown, index) => {
    const record = readRecord(r);
    if (typeof record === "string") out.rejected.push({ index, reason: record });
    else out.records.push({ index, record });
  });
  return out;
}

/** The usable OBS trigger records of an event, keys URL-decoded; see readObsRecords for what was rejected. */
export function obsRecords(event: unknown): ObsRecord[] {
  return readObsRecords(event).records.map((r) => r.record);
}

/** One step of an event's work: a run the handler makes. */
interface Job {
  kind: HandlerResult["runs"][number]["kind"];
  options: (base: EngineOptions) => EngineOptions;
  /** The run's sources: OBS locations (with the objects to scan), or an in-memory object. */
  locations: string[];
  only?: SourceObject[];
  memory?: ObjectSource;
}

/**
 * FunctionGraph entry point. A trace file is scanned and alerted at once (integrity `pending` until its digest
 * lands); a digest file verifies its chain link and the files of the hour it covers, and alerts on violations;
 * the sample's CTS trigger event (`{"cts": {...}}`) is audited as one trace. Every other key is ignored, so the
 * function never triggers itself on its own state objects. Each record stands alone: a bad one is reported in
 * `rejected` and the log, the others are processed. Never throws, whatever the event and the context.
 */
export async function handler(event: unknown, context: FunctionContext = {}): Promise<HandlerResult> {
  const result: HandlerResult = { ok: true, ignored: [], removed: [], rejected: [], runs: [] };
  const errors: string[] = [];
  try {
    await handle(event, context, result, errors);
  } catch (err) {
    errors.push(describeError(err));
    log("error", describeError(err));
  }
  if (errors.length) {
    result.ok = false;
    result.error = errors.join("; ");
  }
  return result;
}

async function handle(
  event: unknown,
  context: unknown,
  result: HandlerResult,
  errors: string[],
): Promise<void> {
  if (isFanOutEvent(event)) {
    // A shard of a fanned-out backfill, or the timer that starts one (DESIGN "Organisation-size backfills").
    const problems: string[] = [];
    const env = environment(context, problems);
    if (env.CTS_AUDIT_RULES) await loadRulesParser();
    const config = functionConfig(env, { obs: true }, problems);
    // Loaded only for fan-out events: the trigger path's cold start does not pay for the coordinator.
    const { fanOutEvent } = await import("./fanout/functionEvents.js");
    result.fanOut = await fanOutEvent(event, config, {
      ...(env.FUNCTIONGRAPH_ENDPOINT ? { fgsEndpoint: env.FUNCTIONGRAPH_ENDPOINT } : {}),
      remainingMs: () => {
        const left = contextCall(context, "getRemainingTimeInMilliSeconds", problems);
        return typeof left === "number" ? left : undefined;
      },
      log: (message) => log("info", message),
    });
    log("info", "fan-out event done", result.fanOut);
    return;
  }
  const jobs: Job[] = [];
  const cts = isObject(event) ? event.cts : undefined;
  if (cts !== undefined) {
    if (!isObject(cts)) {
      errors.push(`the event's cts is ${kindOf(cts)}: a CTS trigger event carries one trace object`);
      log("error", errors.at(-1)!);
      return;
    }
    const source = new MemorySource(
      "cts-trigger",
      new Map([["cts-event.json", Buffer.from(JSON.stringify({ cts }))]]),
    );
    jobs.push({
      kind: "cts-event",
      options: (o) => ({ ...o, verify: "off" }),
      locations: [],
      memory: source,
    });
  } else {
    const read = readObsRecords(event);
    if (read.problem) {
      errors.push(read.problem);
      log("error", read.problem);
      return;
    }
    result.rejected = read.rejected;
    if (read.rejected.length) {
      const { shown, more } = bounded(read.rejected);
      log(
        "error",
        `${read.rejected.length} of ${read.rejected.length + read.records.length} records cannot be read and were skipped${more ? ` (${shown.length} named, and ${more} more)` : ""}`,
        {
          rejected: shown,
        },
      );
    }
    const traces = new Map<string, SourceObject[]>();
    for (const { record: r } of read.records) {
      const key = parseObjectKey(r.key);
      if (r.removed) {
        if (key.kind === "other") result.ignored.push(r.key);
        else result.removed.push(r.key);
      } else if (key.kind === "trace") {
        const list = traces.get(r.bucket) ?? [];
        list.push({ key: r.key, size: r.size, etag: r.etag });
        traces.set(r.bucket, list);
      } else if (key.kind === "digest" && key.uploadTime) {
        // The hour the digest covers, with its neighbours: the previous digest (its chain link) and the files.
        const region = /^(.*?CloudTraces\/[^/]+\/)/.exec(r.key)?.[1] ?? "";
        const since = new Date(key.uploadTime.getTime() - 70 * 60_000);
        const until = new Date(key.uploadTime.getTime() + 60_000);
        jobs.push({
          kind: "digest",
          // A digest event is a verification: CTS_AUDIT_VERIFY is for trace scans.
          options: (o) => ({ ...o, command: "verify", verify: "require", since, until }),
          locations: [`obs://${r.bucket}/${region}`],
        });
      } else {
        result.ignored.push(r.key);
      }
    }
    for (const [bucket, objects] of traces)
      jobs.push({ kind: "trace", options: (o) => o, locations: [`obs://${bucket}`], only: objects });
    if (result.ignored.length) {
      const { shown, more } = bounded(result.ignored);
      log(
        "info",
        `ignored ${result.ignored.length} objects that are not CTS trace or digest files${more ? ` (${shown.length} named, and ${more} more)` : ""}`,
        { keys: shown },
      );
    }
    if (result.removed.length) {
      const { shown, more } = bounded(result.removed);
      log(
        "warn",
        `${result.removed.length} CTS trace or digest files were deleted from the bucket (not read; verify reports them missing)${more ? ` (${shown.length} named, and ${more} more)` : ""}`,
        { keys: shown },
      );
    }
    if (read.records.length === 0 && read.rejected.length === 0)
      log("warn", "event has no OBS records and no cts trace: nothing to do");
  }
  if (result.rejected.length) result.ok = false;
  if (jobs.length === 0) return;

  const contextProblems: string[] = [];
  const env = environment(context, contextProblems);
  registerSecrets(env.HUAWEICLOUD_SDK_AK, env.HUAWEICLOUD_SDK_SK, env.HUAWEICLOUD_SDK_SECURITY_TOKEN);
  if (env.CTS_AUDIT_RULES) await loadRulesParser();
  let fc: FunctionConfig;
  try {
    fc = functionConfig(env, { obs: jobs.some((j) => j.locations.length > 0) }, contextProblems);
    if (fc.rulesObject) {
      const location = fc.rulesObject;
      let text: string | undefined;
      try {
        text = await readObsText(location, fc.cloud);
      } catch (err) {
        throw new ConfigError([
          `env CTS_AUDIT_RULES: cannot read ${location}: ${describeError(err)}: give the function's agency OBS read access to it`,
        ]);
      }
      if (text === undefined)
        throw new ConfigError([
          `env CTS_AUDIT_RULES: ${location} does not exist: upload the rules file there or fix the variable`,
        ]);
      applyRulesText(fc, text, location);
    }
  } catch (err) {
    const message =
      err instanceof ConfigError ? `configuration: ${err.problems.join("; ")}` : describeError(err);
    errors.push(message);
    log("error", message);
    return;
  }
  if (contextProblems.length)
    log("warn", `the function's context is incomplete: ${contextProblems.join("; ")}`);
  for (const warning of [...fc.options.allowList.warnings, ...fc.rulesWarnings]) log("warn", warning);
  if (fc.notify.kind === "none")
    log(
      "warn",
      "no SMN_Topic or SMN_TOPIC_URN in the function's environment variables: alerts go to this log only",
    );

  const deps = (): Omit<RunDeps, "sources"> => ({
    warn: (message) => log("warn", message),
    shouldStop: () => {
      const left = contextCall(context, "getRemainingTimeInMilliSeconds", contextProblems);
      return typeof left === "number" && left < TIME_RESERVE_MS
        ? `function time running out (${left} ms left)`
        : undefined;
    },
  });
  for (const job of jobs) {
    try {
      await execute(job, fc, deps(), result);
    } catch (err) {
      const message = `${job.kind} run ${job.locations.join(" ") || "cts-trigger"}: ${
        err instanceof ConfigError ? err.problems.join("; ") : describeError(err)
      }`;
      errors.push(message);
      log("error", message);
    }
  }
}

async function execute(
  job: Job,
  fc: FunctionConfig,
  deps: Omit<RunDeps, "sources">,
  result: HandlerResult,
): Promise<void> {
  const options = job.options(fc.options);
  const report = await run(options, {
    ...deps,
    sources: job.memory ? [job.memory] : await buildSources(job.locations, fc.cloud, options, job.only),
    notifier: await buildNotifier(fc.notify, fc.cloud),
    ledger: await buildLedger(fc.state, fc.cloud, fc.stateRetentionMs),
  });
  const summary = {
    kind: job.kind,
    objects: report.files.map((f) => f.object),
    summary: report.summary,
    exitCode: report.exitCode,
    notStarted: report.files.filter((f) => f.reason?.startsWith("not started")).map((f) => f.object),
    notifications: report.notifications,
  };
  // The alerts by name, so that the log alone tells what happened when SMN is down or not configured.
  const alerts = bounded(report.alerts);
  const failed = bounded(report.files.filter((f) => f.status === "failed"));
  const named = alerts.more ? `; ${alerts.shown.length} alerts named, and ${alerts.more} more` : "";
  log(report.exitCode === 0 ? "info" : "warn", `${job.kind} run finished${named}`, {
    ...report.summary,
    exitCode: report.exitCode,
    alerts: alerts.shown.map((a) => ({
      ...(a.rule ? { rule: a.rule, severity: a.severity } : {}),
      sourceIp: a.sourceIp,
      user: a.user,
      domain: a.domain,
      traceName: a.traceName,
      reason: a.reason,
      time: a.time,
      object: a.object,
      ...(a.suppressed ? { suppressed: true } : {}),
    })),
    ...(alerts.more ? { moreAlerts: alerts.more } : {}),
    failed: failed.shown.map((f) => ({ object: f.object, error: f.error })),
    ...(failed.more ? { moreFailed: failed.more } : {}),
    notifications: report.notifications,
  });
  result.runs.push(summary);
  if (report.exitCode === 1 || summary.notStarted.length > 0) result.ok = false;
}
