import type { KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AllowList, type AllowEntry } from "./detect/AllowList.js";
import { DEFAULT_EVENTS } from "./detect/AuditRules.js";
import { parseRulesText } from "./detect/rulesParser.js";
import type { RulesConfig } from "./detect/RulesConfig.js";
import { GeoLookup } from "./enrich/GeoLookup.js";
import { ConfigError } from "./errors.js";
import { CTS_PUBLIC_KEY_BASE64 } from "./integrity/signature.js";
import { readPublicKey } from "./readPublicKey.js";
import type { CloudCredentials } from "./notify/SmnClient.js";
import type { TopicRef } from "./notify/SmnNotifier.js";
import { parseObsUrl } from "./sources/obsUrl.js";
import { DEFAULT_FAN_OUT_SHARD_OBJECTS } from "./fanout/Manifest.js";
import { endpointProblem, REGION_ID, sdkCredentials, topicProblem, topicRef } from "./cloudSettings.js";

import type { EngineOptions } from "./engine/types.js";
export type { VerifyMode } from "./engine/types.js";
export type ReportFormat = "text" | "json" | "ndjson" | "html";
export type NotifyTarget =
  { kind: "none" } | { kind: "stdout" } | { kind: "smn" } | { kind: "file"; path: string };

/** Objects in flight by default: a local scan is bound by CPU (parsing, hashing), two cores' worth and some. */
export const DEFAULT_CONCURRENCY = 8;
/**
 * Objects in flight by default when a source is in OBS: a backfill waits on round trips (30 ms or more each), so
 * more requests in flight is what makes it faster, until the CPU spent a request is the limit. Chosen by
 * measurement (`BENCH_ONLY=obs BENCH_OBS_CONCURRENCY=32,4,8,16,64 npm run bench`).
 */
export const DEFAULT_OBS_CONCURRENCY = 32;
/**
 * What the command line asks for, validated: the engine's options (which it passes to `run()` as they are) and
 * what the command line itself needs (sources, sinks, report format, ledger, cloud settings).
 */
export interface Config extends EngineOptions {
  sources: string[];
  notify: NotifyTarget;
  format: ReportFormat;
  state: string | undefined;
  /** How long the state store keeps completed objects and sent alerts. */
  stateRetentionMs: number;
  /** How long a run waits for another run's ledger lock before it exits 2. */
  stateWaitMs: number;
  quiet: boolean;
  /** `--fan-out`: the run is split into shards, each an invocation of this function (README "Organisation-size backfills"). */
  fanOut: FanOutConfig | undefined;
  /** Huawei Cloud settings, validated when an obs:// source or --notify smn needs them. Holds secrets: never print. */
  cloud: CloudConfig;
  /** Warnings about the rules file (a CIDR with host bits set), for stderr. */
  rulesWarnings: string[];
}

/** `--fan-out` and its options, validated. */
export interface FanOutConfig {
  /** The function every shard is an asynchronous invocation of. */
  functionUrn: string;
  /** Shards in flight at most. */
  concurrency: number;
  /** FunctionGraph's endpoint (`--functiongraph-endpoint`, env FUNCTIONGRAPH_ENDPOINT, else from the region). */
  endpoint: string;
  /** `--fan-out-shard-objects`: objects a shard holds before it is closed; absent: the coordinator's default. */
  shardObjects?: number;
}

/** A function's URN: `urn:fss:<region>:<project id>:function:<package>:<name>[:<version or alias>]`. */
export const FUNCTION_URN = /^urn:fss:[a-z0-9-]+:[0-9a-f]{32}:function:[^:\s/]+:[^:\s/]+(:[^:\s/]+)?$/i;

/** The default of `--fan-out-concurrency`: a fifth of an account's default 100 concurrent instances. */
export const DEFAULT_FAN_OUT_CONCURRENCY = 20;

/** Endpoints, topic and credentials for OBS and SMN. */
export interface CloudConfig {
  region: string | undefined;
  obsEndpoint: string | undefined;
  smnEndpoint: string | undefined;
  smnTopic: TopicRef | undefined;
  credentials: CloudCredentials | undefined;
  /** Where a digest that could not be sent is kept. */
  unsentDir: string;
  /** Seconds one OBS or SMN request may take before it is abandoned and retried. */
  timeoutSeconds: number;
}

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_MAX_DECOMPRESSED_BYTES = 4 * 1024 ** 3;

/**
 * The options, with an example value each for error messages. `multiple` options accumulate when repeated; any
 * other value option given twice with different values is a usage error (the last one silently winning hid
 * mistakes such as two --since).
 */
export const OPTIONS = {
  allow: { type: "string", multiple: true, example: "203.0.113.0/24" },
  "allow-file": { type: "string", multiple: true, example: "allowlist.txt" },
  events: { type: "string", multiple: true, example: "login,logout" },
  rules: { type: "string", example: "rules.yaml" },
  since: { type: "string", example: "24h" },
  until: { type: "string", example: "2024-07-19T12:00:00Z" },
  verify: { type: "string", example: "warn" },
  "public-key": { type: "string", example: "cts-public.pem" },
  notify: { type: "string", example: "smn" },
  format: { type: "string", example: "json" },
  state: { type: "string", example: "state.json" },
  concurrency: { type: "string", example: "8" },
  "dry-run": { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "max-decompressed-bytes": { type: "string", example: "4G" },
  region: { type: "string", example: "ap-southeast-1" },
  "obs-endpoint": { type: "string", example: "https://obs.ap-southeast-1.myhuaweicloud.com" },
  "smn-endpoint": { type: "string", example: "https://smn.ap-southeast-1.myhuaweicloud.com" },
  "smn-topic": { type: "string", example: "cts-login-alerts" },
  "unsent-dir": { type: "string", example: "/var/tmp" },
  timeout: { type: "string", example: "30" },
  "state-retention": { type: "string", example: "90d" },
  "state-wait": { type: "string", example: "30" },
  "fan-out": {
    type: "string",
    example: "urn:fss:ap-southeast-1:<project>:function:default:cts-audit:latest",
  },
  "fan-out-concurrency": { type: "string", example: "20" },
  "fan-out-shard-objects": { type: "string", example: "10000" },
  "functiongraph-endpoint": {
    type: "string",
    example: "https://functiongraph.ap-southeast-1.myhuaweicloud.com",
  },
  "geo-db": { type: "string", example: "GeoLite2-Country.mmdb" },
  "asn-db": { type: "string", example: "GeoLite2-ASN.mmdb" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = {
  [K in OptionName]?: (typeof OPTIONS)[K] extends { type: "boolean" }
    ? boolean
    : (typeof OPTIONS)[K] extends { multiple: true }
      ? string[]
      : string;
};

export const USAGE = `Usage:
  cts-audit scan   <source...> [options]   scan traces, verify integrity, alert
  cts-audit verify <source...> [options]   integrity only, no alerts (behaves as --verify require)

<source>: a local directory laid out like a bucket, a single trace file (.json.gz / .json, also exported
trace JSON), or obs://bucket[/prefix].

Options:
  --allow <ip-or-cidr,...>     allowlist entries, repeatable (default: env CTS_AUDIT_ALLOW, else env IP)
  --allow-file <path>          allowlist file, one entry a line, # comments; repeatable
  --events <names>             login trace names to audit, any case, repeatable (default: every login kind,
                               every failed login and logout)
  --rules <file>               detection rules file, YAML: per-user allowlists, rules on/off, severities,
                               thresholds (env CTS_AUDIT_RULES; example: fixtures/rules.example.yaml)
  --since <time>               ISO-8601 time (UTC unless it has an offset) or a duration back from now (30m, 24h,
                               7d, 2w)
  --until <time>               same forms; the window is [since, until)
  --verify <off|warn|require>  integrity checking; require exits 3 on violations (default: warn)
  --public-key <pem|base64>    CTS digest public key, PEM file or base64 SPKI (default: the key CTS publishes;
                               env CTS_AUDIT_PUBLIC_KEY)
  --notify <none|stdout|smn|file:PATH>
                               where the alert digest goes (default: stdout with --format text, else none)
  --format <text|json|ndjson|html>
                               report on stdout (default: text; html: one self-contained page)
  --state <path|obs://...>     ledger for dedupe and resume (default: none)
  --state-retention <dur>      how long the state keeps done objects and sent alerts (default: 90d)
  --state-wait <seconds>       how long to wait for another run holding the local ledger (default: 10)
  --concurrency <n>            objects in flight (default: 8; 32 with an obs:// source)
  --max-decompressed-bytes <n> per-object cap on decompressed bytes, suffixes K M G (default: 4G)
  --dry-run                    build the digest, send nothing, write no state
  --region <id>                Huawei Cloud region, for default endpoints (env RegionName)
  --obs-endpoint <url>         OBS endpoint (env OBS_ENDPOINT; default https://obs.<region>.myhuaweicloud.com)
  --smn-endpoint <url>         SMN endpoint (env SMN_ENDPOINT; default https://smn.<region>.myhuaweicloud.com)
  --smn-topic <urn|name>       SMN topic (env SMN_TOPIC_URN, else SMN_Topic: a name resolved by listing topics)
  --unsent-dir <dir>           where a digest that could not be sent is saved (default: current directory)
  --timeout <seconds>          per request to OBS and SMN before it is retried (default: 30)
  --fan-out <function-urn>     split an obs:// backfill into shards, each an asynchronous invocation of this
                               deployed cts-audit function; one report and one digest (needs --state obs://...)
  --fan-out-concurrency <n>    shards in flight at most, 1 to 100 (default: ${DEFAULT_FAN_OUT_CONCURRENCY})
  --fan-out-shard-objects <n>  objects a shard holds before it is closed at the next region-day; a busy region is
                               cut there (default: ${DEFAULT_FAN_OUT_SHARD_OBJECTS}, well within the function's 900 s)
  --functiongraph-endpoint <url>
                               FunctionGraph endpoint (env FUNCTIONGRAPH_ENDPOINT; default
                               https://functiongraph.<region>.myhuaweicloud.com)
  --geo-db <file.mmdb>         your own country database for alert addresses (env CTS_AUDIT_GEO_DB; default:
                               the bundled ip-location-db data)
  --asn-db <file.mmdb>         your own ASN database, GeoLite2-ASN schema (env CTS_AUDIT_ASN_DB)
  -q, --quiet                  no progress output
  -h, --help                   this help
  --version                    print the version

Credentials (obs:// sources, --notify smn): env HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK,
HUAWEICLOUD_SDK_SECURITY_TOKEN (temporary credentials), HUAWEICLOUD_SDK_PROJECT_ID (SMN).

Exit codes: 0 completed; 1 objects failed or notification failed; 2 usage error; 3 integrity violations
under --verify require (and for verify).`;

/**
 * Parses a duration back from `now` (`30m`, `24h`, `7d`, `2w`) or an ISO-8601 time. A time without an offset is
 * UTC, whatever its precision; an explicit offset (`Z`, `+08:00`, `+0800`, `-05`) is kept.
 */
export function parseTime(text: string, now: Date): Date | undefined {
  const duration = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/i.exec(text.trim());
  if (duration) {
    const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[duration[2]!.toLowerCase() as "s"]!;
    const back = new Date(now.getTime() - Number(duration[1]) * unit);
    // Beyond what a Date holds (about 270,000 years): not a time, so the caller's message names the option.
    return Number.isNaN(back.getTime()) ? undefined : back;
  }
  const time = parseIsoTime(text.trim());
  return time && !Number.isNaN(time.getTime()) ? time : undefined;
}

// Hand-written because Date.parse reads `2024-07-19T00:00:00` as local time but `2024-07-19` as UTC, and rolls
// impossible dates over (`2024-02-30` is March 1st): a window must mean the same instant on every machine.
// Checked against Date.parse on explicit-offset forms in test/config.test.ts.
const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

function parseIsoTime(text: string): Date | undefined {
  const m = ISO_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((v) => Number(v ?? 0)) as number[];
  const ms = Math.floor(Number(`0.${m[7] ?? "0"}`) * 1000);
  const daysInMonth =
    new Date(Date.UTC(2000, month!, 0)).getUTCDate() - (month === 2 && !leap(year!) ? 1 : 0);
  if (month! < 1 || month! > 12 || day! < 1 || day! > daysInMonth) return undefined;
  if (hour! > 23 || minute! > 59 || second! > 59) return undefined;
  let offsetMinutes = 0;
  const offset = m[8]?.toUpperCase();
  if (offset && offset !== "Z") {
    const [, sign, oh, om] = /^([+-])(\d{2}):?(\d{2})?$/.exec(offset)!;
    if (Number(oh) > 23 || Number(om ?? 0) > 59) return undefined;
    offsetMinutes = (sign === "-" ? -1 : 1) * (Number(oh) * 60 + Number(om ?? 0));
  }
  const date = new Date(0);
  // setUTCFullYear takes the year literally (Date.UTC maps 0-99 to 1900-1999).
  date.setUTCFullYear(year!, month! - 1, day!);
  date.setUTCHours(hour!, minute!, second!, ms);
  return new Date(date.getTime() - offsetMinutes * 60_000);
}

function leap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([kmg]i?b?)?$/i.exec(text.trim());
  if (!m) return undefined;
  const unit = (m[2] ?? "").toLowerCase()[0];
  const mult = unit === "k" ? 1024 : unit === "m" ? 1024 ** 2 : unit === "g" ? 1024 ** 3 : 1;
  return Number(m[1]) * mult;
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
  option: string,
  problems: string[],
): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  problems.push(`${option}: "${value}" is not one of ${allowed.join(", ")}`);
  return fallback;
}

/** What the command line asked for when it is not a run. */
export type CliRequest = { kind: "help" } | { kind: "version" } | { kind: "run"; config: Config };

/**
 * Whether the command line or the environment names a rules file, as {@link parseCli} reads them: the entry point
 * then loads the rules parser first (`loadRulesParser`), which a run without one does not pay for.
 */
export function wantsRules(argv: readonly string[], env: Env): boolean {
  return readArgv(argv).values.rules !== undefined || Boolean(env.CTS_AUDIT_RULES);
}

/**
 * Builds the Config from argv (without `node` and the script) and the environment. Every problem is collected
 * and thrown at once in one ConfigError, each naming the option and the fix. With a rules file, await
 * `loadRulesParser` first (see {@link wantsRules}).
 */
export function parseCli(argv: readonly string[], env: Env, now = new Date()): CliRequest {
  const { values, positionals, problems } = readArgv(argv);
  if (values.help) return { kind: "help" };
  if (values.version) return { kind: "version" };
  const [command, ...sources] = positionals;
  if (command !== "scan" && command !== "verify") {
    problems.push(
      command === undefined
        ? "missing command: use cts-audit scan <source...> or cts-audit verify <source...>"
        : `unknown command "${command}": use scan or verify`,
    );
  }
  if (sources.length === 0)
    problems.push("missing <source>: give a directory, a trace file or obs://bucket/prefix");

  const entries: AllowEntry[] = [];
  for (const value of values.allow ?? []) entries.push(...AllowList.split(value, "--allow"));
  for (const file of values["allow-file"] ?? []) {
    try {
      readFileSync(file, "utf8")
        .split(/\r?\n/)
        .forEach((line, i) =>
          entries.push(...AllowList.split(line.replace(/#.*$/, ""), `--allow-file ${file}:${i + 1}`)),
        );
    } catch {
      problems.push(
        `--allow-file: cannot read ${file}: give a readable file with one address or CIDR a line`,
      );
    }
  }
  if (values.allow === undefined && values["allow-file"] === undefined) {
    if (env.CTS_AUDIT_ALLOW !== undefined)
      entries.push(...AllowList.split(env.CTS_AUDIT_ALLOW, "env CTS_AUDIT_ALLOW"));
    else if (env.IP !== undefined) entries.push(...AllowList.split(env.IP, "env IP"));
  }
  let allowList = AllowList.parse([]);
  try {
    allowList = AllowList.parse(entries);
  } catch (err) {
    problems.push(...(err instanceof ConfigError ? err.problems : [String(err)]));
  }

  let rules: RulesConfig | undefined;
  let rulesWarnings: string[] = [];
  const rulesFile = values.rules ?? (env.CTS_AUDIT_RULES || undefined);
  if (rulesFile !== undefined) {
    const origin = values.rules !== undefined ? `--rules ${rulesFile}` : `env CTS_AUDIT_RULES ${rulesFile}`;
    let text: string | undefined;
    try {
      text = readFileSync(rulesFile, "utf8");
    } catch {
      problems.push(
        `${origin}: cannot read the file: give a readable YAML rules file (see fixtures/rules.example.yaml)`,
      );
    }
    if (text !== undefined) {
      try {
        ({ config: rules, warnings: rulesWarnings } = parseRulesText(text, origin));
      } catch (err) {
        problems.push(...(err instanceof ConfigError ? err.problems : [String(err)]));
      }
    }
  }

  const events = (values.events ?? DEFAULT_EVENTS)
    .flatMap((list) => list.split(","))
    .map((e) => e.trim())
    .filter((e) => e !== "");
  if (events.length === 0)
    problems.push('--events: give at least one trace name, e.g. "login,logout,loginFailed"');
  for (const e of events) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(e)) problems.push(`--events: "${e}" is not a CTS trace name`);
  }

  const time = (option: "since" | "until"): Date | undefined => {
    const text = values[option];
    if (text === undefined) return undefined;
    const parsedTime = parseTime(text, now);
    if (!parsedTime)
      problems.push(
        /^\s*\d+(?:\.\d+)?\s*[smhdw]\s*$/i.test(text)
          ? `--${option}: "${text}" reaches back further than a date can: give a shorter duration (24h, 7d, 52w)`
          : `--${option}: "${text}" is neither ISO-8601 (2024-07-19T00:00:00Z) nor a duration (24h, 7d)`,
      );
    return parsedTime;
  };
  const since = time("since");
  const until = time("until");
  if (since && until && since >= until) problems.push("--since must be before --until");

  const verify =
    command === "verify"
      ? "require"
      : oneOf(values.verify, ["off", "warn", "require"] as const, "warn", "--verify", problems);
  if (command === "verify" && values.verify === "off")
    problems.push("--verify off makes no sense with verify: drop it");
  const format = oneOf(
    values.format,
    ["text", "json", "ndjson", "html"] as const,
    "text",
    "--format",
    problems,
  );

  let notify: NotifyTarget =
    format === "text" && command !== "verify" ? { kind: "stdout" } : { kind: "none" };
  if (values.notify !== undefined) {
    const n = values.notify;
    if (n === "none" || n === "stdout" || n === "smn") notify = { kind: n };
    else if (n.startsWith("file:") && n.length > 5) notify = { kind: "file", path: n.slice(5) };
    else problems.push(`--notify: "${n}" is not one of none, stdout, smn, file:PATH`);
    if (n === "stdout" && format !== "text") {
      problems.push(
        `--notify stdout: stdout carries the ${format} report; use --notify file:PATH or --format text`,
      );
    }
  }

  let publicKey: KeyObject | undefined;
  const keySpec = values["public-key"] ?? env.CTS_AUDIT_PUBLIC_KEY;
  const keyOrigin = values["public-key"] !== undefined ? "--public-key" : "env CTS_AUDIT_PUBLIC_KEY";
  try {
    publicKey = readPublicKey(
      keySpec ?? CTS_PUBLIC_KEY_BASE64,
      keySpec === undefined ? "built-in CTS key" : keyOrigin,
    );
  } catch (err) {
    problems.push(...(err instanceof ConfigError ? err.problems : [String(err)]));
  }

  let concurrency = sources.some((s) => s.startsWith("obs://"))
    ? DEFAULT_OBS_CONCURRENCY
    : DEFAULT_CONCURRENCY;
  if (values.concurrency !== undefined) {
    concurrency = Number(values.concurrency);
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
      problems.push(`--concurrency: "${values.concurrency}" must be a whole number from 1 to 256`);
    }
  }
  let maxDecompressedBytes = DEFAULT_MAX_DECOMPRESSED_BYTES;
  if (values["max-decompressed-bytes"] !== undefined) {
    const size = parseSize(values["max-decompressed-bytes"]);
    if (size === undefined || size < 1) {
      problems.push(
        `--max-decompressed-bytes: "${values["max-decompressed-bytes"]}" must be a size such as 512M or 4G`,
      );
    } else maxDecompressedBytes = size;
  }

  let stateRetentionMs = 90 * 864e5;
  if (values["state-retention"] !== undefined) {
    const back = parseTime(values["state-retention"], new Date(0));
    if (
      !back ||
      back.getTime() >= 0 ||
      !/^\d/.test(values["state-retention"]) ||
      values["state-retention"].includes("-")
    ) {
      problems.push(
        `--state-retention: "${values["state-retention"]}" must be a duration longer than 0 and within a date's range, such as 30d or 26w`,
      );
    } else stateRetentionMs = -back.getTime();
  }
  let stateWaitMs = 10_000;
  if (values["state-wait"] !== undefined) {
    const seconds = Number(values["state-wait"]);
    if (!/^\d+(\.\d+)?$/.test(values["state-wait"]) || seconds > 86_400)
      problems.push(`--state-wait: "${values["state-wait"]}" must be a number of seconds such as 30`);
    else stateWaitMs = seconds * 1000;
  }
  const state = values.state ?? (env.CTS_AUDIT_STATE || undefined);
  if (state?.startsWith("obs://") && !parseObsUrl(state))
    problems.push(`--state: write obs://bucket/prefix, not ${state}`);
  const cloud = parseCloud(
    values,
    env,
    [...sources, ...(state?.startsWith("obs://") ? [state] : [])],
    notify,
    problems,
  );
  const fanOut = parseFanOut(values, env, { sources, state, cloud }, problems);

  let geo: GeoLookup | undefined;
  const geoDb = values["geo-db"] ?? (env.CTS_AUDIT_GEO_DB || undefined);
  const asnDb = values["asn-db"] ?? (env.CTS_AUDIT_ASN_DB || undefined);
  try {
    geo = GeoLookup.open({
      ...(geoDb ? { geoDb, geoOption: values["geo-db"] ? "--geo-db" : "env CTS_AUDIT_GEO_DB" } : {}),
      ...(asnDb ? { asnDb, asnOption: values["asn-db"] ? "--asn-db" : "env CTS_AUDIT_ASN_DB" } : {}),
    });
  } catch (err) {
    problems.push(...(err instanceof ConfigError ? err.problems : [String(err)]));
  }

  if (problems.length > 0 || !publicKey) throw new ConfigError(problems);
  return {
    kind: "run",
    config: {
      command: command as "scan" | "verify",
      sources,
      allowList,
      events,
      ...(rules ? { rules } : {}),
      rulesWarnings,
      since,
      until,
      verify,
      publicKey,
      notify,
      format,
      state,
      stateRetentionMs,
      stateWaitMs,
      concurrency,
      dryRun: values["dry-run"] ?? false,
      quiet: values.quiet ?? false,
      maxDecompressedBytes,
      fanOut,
      ...(geo ? { geo } : {}),
      cloud,
    },
  };
}

/**
 * Splits argv into option values and positionals with node:util's tokens, collecting every problem as one line
 * naming the option and the fix (parseArgs' own strict errors are long, name no fix, and stop at the first).
 */
function readArgv(argv: readonly string[]): { values: Values; positionals: string[]; problems: string[] } {
  const { tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const values: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  const problems: string[] = [];
  const byName = new Map<string, OptionName>(Object.keys(OPTIONS).map((k) => [k, k as OptionName]));
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if ("short" in spec) byName.set(spec.short, name as OptionName);
  }
  for (const token of tokens) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    const name = byName.get(token.name);
    const spec = name === undefined ? undefined : OPTIONS[name];
    if (name === undefined || spec === undefined || (token.rawName.startsWith("--") && token.name !== name)) {
      problems.push(`${token.rawName}: unknown option: check its spelling or remove it`);
      continue;
    }
    const flag = `--${name}`;
    if (spec.type === "boolean") {
      if (token.value !== undefined) problems.push(`${flag} takes no value: write ${flag} alone`);
      else values[name] = true;
      continue;
    }
    const value = token.value;
    // parseArgs takes the next word as the value even when it is the next option (`--since --until 1h`).
    // PEM text starts with dashes too, so only something shaped like an option counts as one.
    const nextOption =
      value !== undefined && !token.inlineValue ? /^(-[A-Za-z]|--[A-Za-z][\w-]*)(?:=|$)/.exec(value) : null;
    if (value === undefined || nextOption) {
      problems.push(
        `${flag} needs a value${nextOption ? ` (${nextOption[1]} is an option)` : ""}: write ${flag} ${spec.example}` +
          (nextOption ? `, or ${flag}=VALUE for a value that starts with "-"` : ""),
      );
      continue;
    }
    // An empty value is a script's unset variable (`--state "$STATE"`), never a choice: taken as "not given", it
    // would silently turn the ledger, an allowlist or a data file off.
    if (value.trim() === "") {
      problems.push(`${flag} has an empty value: write ${flag} ${spec.example}, or leave the option out`);
      continue;
    }
    if ("multiple" in spec) {
      ((values[name] as string[] | undefined) ?? (values[name] = [])).push(value);
    } else if (values[name] !== undefined && values[name] !== value) {
      // The values are not repeated: --public-key may carry key material.
      problems.push(`${flag} is given twice with different values: give it once`);
    } else values[name] = value;
  }
  return { values: values as Values, positionals, problems: [...new Set(problems)] };
}

/**
 * `--fan-out` and its options. A fanned-out run keeps its manifest and shard results under the state prefix, reads
 * its sources from OBS in the function, and needs the project for the invocation's path: each missing piece is a
 * problem naming the option.
 */
function parseFanOut(
  values: {
    "fan-out"?: string;
    "fan-out-concurrency"?: string;
    "fan-out-shard-objects"?: string;
    "functiongraph-endpoint"?: string;
  },
  env: Env,
  run: { sources: readonly string[]; state: string | undefined; cloud: CloudConfig },
  problems: string[],
): FanOutConfig | undefined {
  const urn = values["fan-out"];
  if (urn === undefined) {
    for (const option of [
      "fan-out-concurrency",
      "fan-out-shard-objects",
      "functiongraph-endpoint",
    ] as const) {
      if (values[option] !== undefined)
        problems.push(`--${option} applies only with --fan-out <function-urn>: add --fan-out or drop it`);
    }
    return undefined;
  }
  if (!FUNCTION_URN.test(urn))
    problems.push(
      `--fan-out: "${urn.slice(0, 200)}" is not a function URN: write urn:fss:<region>:<project-id>:function:<package>:<name>:<version>`,
    );
  let concurrency = DEFAULT_FAN_OUT_CONCURRENCY;
  const c = values["fan-out-concurrency"];
  if (c !== undefined) {
    concurrency = Number(c);
    // An account runs 100 function instances at once by default, the OBS trigger's included.
    if (!/^\d+$/.test(c) || concurrency < 1 || concurrency > 100)
      problems.push(`--fan-out-concurrency: "${c}" must be a whole number from 1 to 100`);
  }
  let shardObjects: number | undefined;
  const so = values["fan-out-shard-objects"];
  if (so !== undefined) {
    shardObjects = Number(so);
    if (!/^\d+$/.test(so) || shardObjects < 1 || shardObjects > 10_000_000)
      problems.push(
        `--fan-out-shard-objects: "${so}" must be a whole number from 1 to 10000000 (default ${DEFAULT_FAN_OUT_SHARD_OBJECTS}: a shard must finish within the function's 900 s)`,
      );
  }
  if (!run.state?.startsWith("obs://"))
    problems.push(
      `--state: --fan-out keeps its manifest and shard results under the state prefix: give --state obs://bucket/prefix${run.state ? ` (not ${run.state})` : ""}`,
    );
  for (const s of run.sources) {
    if (!s.startsWith("obs://"))
      problems.push(`<source> ${s}: --fan-out reads its sources in the function: give obs://bucket/prefix`);
  }
  const given = values["functiongraph-endpoint"] ?? (env.FUNCTIONGRAPH_ENDPOINT || undefined);
  const endpoint =
    given ?? (run.cloud.region ? `https://functiongraph.${run.cloud.region}.myhuaweicloud.com` : undefined);
  if (endpoint === undefined)
    problems.push(
      "--fan-out needs the FunctionGraph endpoint: set --functiongraph-endpoint, FUNCTIONGRAPH_ENDPOINT, or --region / RegionName",
    );
  else if (!/^https?:\/\/[^/\s]+/.test(endpoint))
    problems.push(
      `--functiongraph-endpoint (env FUNCTIONGRAPH_ENDPOINT): "${endpoint}" is not an http(s) URL`,
    );
  if (!run.cloud.credentials)
    problems.push("--fan-out: credentials missing, set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK");
  else if (!run.cloud.credentials.projectId)
    problems.push("--fan-out needs the project for the invocation: set HUAWEICLOUD_SDK_PROJECT_ID");
  return {
    functionUrn: urn,
    concurrency,
    endpoint: endpoint ?? "",
    ...(shardObjects !== undefined ? { shardObjects } : {}),
  };
}

function parseCloud(
  values: {
    region?: string;
    "obs-endpoint"?: string;
    "smn-endpoint"?: string;
    "smn-topic"?: string;
    "unsent-dir"?: string;
    timeout?: string;
  },
  env: Env,
  sources: readonly string[],
  notify: NotifyTarget,
  problems: string[],
): CloudConfig {
  // An empty variable counts as unset: `OBS_ENDPOINT=` in a job file means "not configured".
  const get = (name: string) => (env[name] === "" ? undefined : env[name]);
  let region = values.region ?? get("RegionName");
  if (region !== undefined && !REGION_ID.test(region)) {
    problems.push(
      `--region (env RegionName): "${region.slice(0, 80)}" is not a region id: give one such as ap-southeast-1`,
    );
    region = undefined;
  }
  const endpoint = (flag: string | undefined, envName: string, service: string): string | undefined => {
    const value =
      flag ?? get(envName) ?? (region ? `https://${service}.${region}.myhuaweicloud.com` : undefined);
    const problem = value === undefined ? undefined : endpointProblem(value);
    if (problem) {
      problems.push(
        `--${service}-endpoint (env ${envName}): "${value!.slice(0, 200)}" ${problem}; or leave it out and give --region`,
      );
    }
    return value;
  };
  const obsEndpoint = endpoint(values["obs-endpoint"], "OBS_ENDPOINT", "obs");
  const smnEndpoint = endpoint(values["smn-endpoint"], "SMN_ENDPOINT", "smn");
  const topicText = values["smn-topic"] ?? get("SMN_TOPIC_URN") ?? get("SMN_Topic");
  const smnTopic = topicRef(topicText);
  const topicWrong = topicText === undefined ? undefined : topicProblem(topicText);
  if (topicWrong)
    problems.push(`--smn-topic (env SMN_TOPIC_URN, SMN_Topic): "${topicText!.slice(0, 300)}" ${topicWrong}`);
  const credentials = sdkCredentials(get);

  const obsSources = sources.filter((s) => s.startsWith("obs://"));
  for (const s of obsSources) {
    if (!parseObsUrl(s)) problems.push(`<source> ${s}: write obs://bucket or obs://bucket/prefix`);
  }
  const needs = (what: string) => {
    if (!credentials)
      problems.push(`${what}: credentials missing, set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK`);
  };
  if (obsSources.length > 0) {
    if (!obsEndpoint)
      problems.push(
        "obs:// sources need an endpoint: set --obs-endpoint, OBS_ENDPOINT, or --region / RegionName",
      );
    needs("obs:// sources");
  }
  if (notify.kind === "smn") {
    if (!smnEndpoint)
      problems.push(
        "--notify smn needs an endpoint: set --smn-endpoint, SMN_ENDPOINT, or --region / RegionName",
      );
    if (!smnTopic) problems.push("--notify smn needs a topic: set --smn-topic, SMN_TOPIC_URN or SMN_Topic");
    needs("--notify smn");
    if (credentials && !credentials.projectId)
      problems.push("--notify smn needs the project: set HUAWEICLOUD_SDK_PROJECT_ID");
  }
  let timeoutSeconds = 30;
  if (values.timeout !== undefined) {
    timeoutSeconds = Number(values.timeout);
    if (!(timeoutSeconds >= 1 && timeoutSeconds <= 3600)) {
      problems.push(`--timeout: "${values.timeout}" must be a number of seconds from 1 to 3600`);
    }
  }
  return {
    region,
    obsEndpoint,
    smnEndpoint,
    smnTopic,
    credentials,
    unsentDir: values["unsent-dir"] ?? ".",
    timeoutSeconds,
  };
}
