import { AllowList, type AllowEntry } from "./detect/AllowList.js";
import { readFileSync } from "node:fs";
import { DEFAULT_EVENTS } from "./detect/AuditRules.js";
import { parseRulesText } from "./detect/rulesParser.js";
import { DEFAULT_MAX_DECOMPRESSED_BYTES, type CloudConfig, type Env, type NotifyTarget } from "./config.js";
import type { EngineOptions } from "./engine/types.js";
import { GeoLookup } from "./enrich/GeoLookup.js";
import { ConfigError } from "./errors.js";
import { CTS_PUBLIC_KEY_BASE64 } from "./integrity/signature.js";
import { readPublicKey } from "./readPublicKey.js";
import { parseObsUrl } from "./sources/obsUrl.js";
import { endpointProblem, REGION_ID, sdkCredentials, topicProblem, topicRef } from "./cloudSettings.js";

/** The function's variables (user data, else process.env); DESIGN "Function configuration". */
export const FUNCTION_VARIABLES = [
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
  "CTS_AUDIT_RULES",
  "CTS_AUDIT_VERIFY",
  "CTS_AUDIT_TIMEOUT",
  "FUNCTIONGRAPH_ENDPOINT",
  "CTS_AUDIT_GEO_DB",
  "CTS_AUDIT_ASN_DB",
] as const;

/** What the function runs with, validated. Holds secrets (cloud.credentials): never log it. */
export interface FunctionConfig {
  /** Engine options of a trace scan (`command: "scan"`, no window); digest and CTS events derive theirs. */
  options: EngineOptions;
  cloud: CloudConfig;
  /** SMN when a topic is set, else none (the alerts are then in the function's log only). */
  notify: NotifyTarget;
  /** The ledger location (CTS_AUDIT_STATE), undefined for none. */
  state: string | undefined;
  stateRetentionMs: number;
  /**
   * CTS_AUDIT_RULES when it names an OBS object (`obs://bucket/key`): the handler reads and parses it before the
   * run (see {@link applyRulesText}). A path in the code package is read here, into `options.rules`.
   */
  rulesObject?: string;
  /** Warnings about the rules file (a CIDR with host bits set), for the log. */
  rulesWarnings: string[];
}

/**
 * Parses the rules file's text into `fc.options.rules` (the function's CTS_AUDIT_RULES). Throws a ConfigError
 * whose problems say to fix the file named by CTS_AUDIT_RULES.
 */
export function applyRulesText(fc: FunctionConfig, text: string, location: string): void {
  const { config, warnings } = parseRulesText(text, `env CTS_AUDIT_RULES ${location}`);
  fc.options.rules = config;
  fc.rulesWarnings.push(...warnings);
}

/** What the event needs of the cloud. */
export interface FunctionNeeds {
  /** The event has OBS objects to read (an obs:// CTS_AUDIT_STATE needs OBS in any case). */
  obs: boolean;
}

const CONCURRENCY = 8;
const TIMEOUT_SECONDS = 30;
const STATE_RETENTION_MS = 90 * 864e5;
/** /tmp is the only writable directory of a FunctionGraph instance. */
const UNSENT_DIR = "/tmp";

/**
 * Builds the function's run settings from its variables (`env`: user data, else process.env, plus the
 * credentials of the context, see `handler.ts`). Every problem is thrown at once in one ConfigError, each in the
 * function's terms: which environment variable to set, or what the agency must allow. `contextProblems` are the
 * context methods that failed; they explain missing credentials.
 */
export function functionConfig(
  env: Env,
  needs: FunctionNeeds,
  contextProblems: readonly string[] = [],
): FunctionConfig {
  const problems: string[] = [];
  // An empty variable counts as unset: the console keeps variables that were cleared as "".
  const get = (name: string) => (env[name]?.trim() ? env[name]!.trim() : undefined);

  const entries: AllowEntry[] = [];
  const allowVariable = get("CTS_AUDIT_ALLOW") !== undefined ? "CTS_AUDIT_ALLOW" : "IP";
  const allowText = get(allowVariable);
  if (allowText !== undefined) entries.push(...AllowList.split(allowText, `env ${allowVariable}`));
  let allowList = AllowList.parse([]);
  try {
    allowList = AllowList.parse(entries);
  } catch (err) {
    problems.push(
      ...(err instanceof ConfigError ? err.problems : [String(err)]).map(
        (p) => `${p} (fix ${allowVariable} in the function's environment variables)`,
      ),
    );
  }

  const eventsText = get("CTS_AUDIT_EVENTS");
  const events = (eventsText?.split(",").map((e) => e.trim()) ?? [...DEFAULT_EVENTS]).filter((e) => e !== "");
  // A list of separators only would audit nothing and report every run clean.
  if (eventsText !== undefined && events.length === 0)
    problems.push(
      `env CTS_AUDIT_EVENTS: "${eventsText.slice(0, 80)}" names no trace: set it in the function's environment variables to names such as login,logout,loginFailed, or remove it for the defaults`,
    );
  for (const e of events) {
    if (!/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(e))
      problems.push(
        `env CTS_AUDIT_EVENTS: "${e.slice(0, 80)}" is not a CTS trace name: set it in the function's environment variables to names such as login,logout,loginFailed`,
      );
  }

  // The rules file: a path in the code package (relative to the working directory, the code's root), or an OBS
  // object read by the handler before the run.
  const rulesText = get("CTS_AUDIT_RULES");
  let rules: FunctionConfig["options"]["rules"];
  const rulesWarnings: string[] = [];
  let rulesObject: string | undefined;
  if (rulesText?.startsWith("obs://")) {
    const url = parseObsUrl(rulesText);
    if (!url || url.prefix === "" || url.prefix.endsWith("/"))
      problems.push(
        `env CTS_AUDIT_RULES: write obs://bucket/path/rules.yaml (an object), not ${rulesText.slice(0, 200)}: fix it in the function's environment variables`,
      );
    else rulesObject = rulesText;
  } else if (rulesText !== undefined) {
    let text: string | undefined;
    try {
      text = readFileSync(rulesText, "utf8");
    } catch {
      problems.push(
        `env CTS_AUDIT_RULES: cannot read ${rulesText.slice(0, 200)}: put the rules file in the function's code package and give its path, or an obs://bucket/key object`,
      );
    }
    if (text !== undefined) {
      try {
        const parsed = parseRulesText(text, `env CTS_AUDIT_RULES ${rulesText.slice(0, 200)}`);
        rules = parsed.config;
        rulesWarnings.push(...parsed.warnings);
      } catch (err) {
        problems.push(...(err instanceof ConfigError ? err.problems : [String(err)]));
      }
    }
  }

  const verifyText = get("CTS_AUDIT_VERIFY") ?? "warn";
  const verify = (["off", "warn", "require"] as const).find((v) => v === verifyText);
  if (!verify)
    problems.push(
      `env CTS_AUDIT_VERIFY: "${verifyText.slice(0, 80)}" is not one of off, warn, require: fix it in the function's environment variables`,
    );

  let publicKey;
  const keySpec = get("CTS_AUDIT_PUBLIC_KEY");
  try {
    publicKey = readPublicKey(
      keySpec ?? CTS_PUBLIC_KEY_BASE64,
      keySpec === undefined ? "built-in CTS key" : "env CTS_AUDIT_PUBLIC_KEY",
    );
  } catch (err) {
    problems.push(
      ...(err instanceof ConfigError ? err.problems : [String(err)]).map(
        (p) => `${p} (in the function's environment variables)`,
      ),
    );
  }

  const state = get("CTS_AUDIT_STATE");
  // A function instance's /tmp does not outlive it: a ledger there would forget what it sent.
  if (state !== undefined && !state.startsWith("obs://"))
    problems.push(
      "CTS_AUDIT_STATE must be obs://bucket/prefix: a function's local disk does not outlive its instance; set it in the function's environment variables",
    );
  if (state?.startsWith("obs://") && !parseObsUrl(state))
    problems.push(
      `env CTS_AUDIT_STATE: write obs://bucket/prefix, not ${state.slice(0, 200)}: fix it in the function's environment variables`,
    );

  let region = get("RegionName");
  if (region !== undefined && !REGION_ID.test(region)) {
    problems.push(
      `env RegionName: "${region.slice(0, 80)}" is not a region id: set RegionName in the function's environment variables to one such as ap-southeast-1`,
    );
    region = undefined;
  }
  const endpoint = (variable: string, service: "obs" | "smn"): string | undefined => {
    const value = get(variable) ?? (region ? `https://${service}.${region}.myhuaweicloud.com` : undefined);
    const problem = value === undefined ? undefined : endpointProblem(value);
    if (problem) {
      problems.push(
        `env ${variable}: "${value!.slice(0, 200)}" ${problem}: fix it in the function's environment variables, or remove it and set RegionName`,
      );
    }
    return value;
  };
  const obsEndpoint = endpoint("OBS_ENDPOINT", "obs");
  const smnEndpoint = endpoint("SMN_ENDPOINT", "smn");
  const topicText = get("SMN_TOPIC_URN") ?? get("SMN_Topic");
  const smnTopic = topicRef(topicText);
  const topicWrong = topicText === undefined ? undefined : topicProblem(topicText);
  if (topicWrong)
    problems.push(
      `env ${get("SMN_TOPIC_URN") !== undefined ? "SMN_TOPIC_URN" : "SMN_Topic"}: "${topicText!.slice(0, 300)}" ${topicWrong}: fix it in the function's environment variables`,
    );
  const credentials = sdkCredentials(get);

  // A ledger on OBS needs OBS even for the CTS trigger event.
  const obsNeeded = needs.obs || state?.startsWith("obs://") === true || rulesObject !== undefined;
  if (obsNeeded) {
    if (!obsEndpoint)
      problems.push(
        "OBS endpoint unknown: set RegionName (or OBS_ENDPOINT) in the function's environment variables",
      );
    if (!credentials)
      problems.push(
        `no temporary credentials in the function's context: give the function an agency with OBS read access`,
      );
  }
  if (smnTopic) {
    if (!smnEndpoint)
      problems.push(
        "SMN endpoint unknown: set RegionName (or SMN_ENDPOINT) in the function's environment variables",
      );
    if (!credentials && !obsNeeded)
      problems.push(
        `no temporary credentials in the function's context: give the function an agency that may publish to SMN`,
      );
    if (credentials && !credentials.projectId)
      problems.push(
        `no project ID in the function's context: SMN needs it; run the function in the project of the topic`,
      );
  }

  // Seconds one OBS or SMN request may take: a function's time is short, 30 s a request may not fit.
  const timeoutText = get("CTS_AUDIT_TIMEOUT");
  const timeoutSeconds = timeoutText === undefined ? TIMEOUT_SECONDS : Number(timeoutText);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 900)
    problems.push(
      "CTS_AUDIT_TIMEOUT must be a number of seconds between 1 and 900: set it in the function's environment variables",
    );

  // Country/ASN data: the user's .mmdb files (e.g. in a FunctionGraph dependency), else the bundled packages when
  // the deployment carries them (a lookup without data says "no country data" in each alert, never a guess).
  let geo: GeoLookup | undefined;
  const geoDb = get("CTS_AUDIT_GEO_DB");
  const asnDb = get("CTS_AUDIT_ASN_DB");
  try {
    geo = GeoLookup.open({
      ...(geoDb ? { geoDb, geoOption: "env CTS_AUDIT_GEO_DB" } : {}),
      ...(asnDb ? { asnDb, asnOption: "env CTS_AUDIT_ASN_DB" } : {}),
    });
  } catch (err) {
    problems.push(
      ...(err instanceof ConfigError ? err.problems : [String(err)]).map(
        (p) => `${p} (in the function's environment variables)`,
      ),
    );
  }

  // A broken context explains missing variables and credentials: say so with them.
  if (problems.length > 0 && contextProblems.length > 0)
    problems.push(`the function's context failed: ${contextProblems.join("; ")}`);
  if (problems.length > 0 || !publicKey || !verify) throw new ConfigError(problems);
  return {
    options: {
      command: "scan",
      allowList,
      events,
      ...(rules ? { rules } : {}),
      since: undefined,
      until: undefined,
      verify,
      publicKey,
      concurrency: CONCURRENCY,
      dryRun: false,
      maxDecompressedBytes: DEFAULT_MAX_DECOMPRESSED_BYTES,
      ...(geo ? { geo } : {}),
    },
    cloud: {
      region,
      obsEndpoint,
      smnEndpoint,
      smnTopic,
      credentials,
      unsentDir: UNSENT_DIR,
      timeoutSeconds,
    },
    notify: smnTopic ? { kind: "smn" } : { kind: "none" },
    state,
    stateRetentionMs: STATE_RETENTION_MS,
    ...(rulesObject ? { rulesObject } : {}),
    rulesWarnings,
  };
}
