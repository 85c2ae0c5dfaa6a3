import { createHash } from "node:crypto";
import { field, normaliseTrace, type Trace } from "../cts/trace.js";
import { AllowList, type IpVerdict } from "./AllowList.js";
import type { LoginAttempt } from "./LoginAttempt.js";
import { DEFAULT_RULES, maxSeverity, type RulesConfig } from "./RulesConfig.js";
import { rulesHash } from "./rulesHash.js";
import type { Alert, AlertReason } from "./types.js";
import { redactField } from "../safeText.js";

/**
 * Successful logins (reference §2.3): the console login, QR-code, OIDC, SSO, federated (cached and SAML), Cloud
 * Alliance and TSI logins. Sources: https://docs.otc.t-systems.com/en-us/usermanual/iam/iam_01_0012.html and
 * https://support.huaweicloud.com/intl/en-us/my-kualalumpur-1-usermanual-iam/iam_01_0012_0.html.
 */
export const LOGIN_SUCCESS_EVENTS = [
  "login",
  "scanQRCodeLogin",
  "oidcLoginSuccess",
  "iamUserSsoLoginSuccess",
  "federationLoginNoPwdSuccess",
  "tenantLoginBySamlSuccess",
  "cloudLoginBySaml",
  "tsiLogin",
] as const;

/**
 * Failed logins, same pages (`loginFailed` on Huawei Cloud, `loginfailed` on OTC: names match case-insensitively).
 * The account owner's own failures are not recorded ("Account login failures not included",
 * https://support.huaweicloud.com/intl/en-us/usermanual-iam/iam_01_0012.html).
 */
export const LOGIN_FAILURE_EVENTS = [
  "loginFailed",
  "scanQRCodeLoginFailed",
  "oidcLoginFailed",
  "iamUserSsoLoginFailed",
  "federationLoginNoPwdFailed",
] as const;

/** Default `--events`: every login kind, every failed login, and the logout. */
export const DEFAULT_EVENTS = [...LOGIN_SUCCESS_EVENTS, ...LOGIN_FAILURE_EVENTS, "logout"] as const;

const SUCCESS = new Set<string>(LOGIN_SUCCESS_EVENTS.map((e) => e.toLowerCase()));

/**
 * Whether an audited trace name is a login success, a failure or neither (a logout, or a name given with
 * `--events` that is no login). Any name ending in "failed" is a failure: an `--events` list may name a variant
 * this list does not know yet.
 */
export function loginOutcome(traceName: string): "success" | "failure" | undefined {
  const name = traceName.toLowerCase();
  if (name.endsWith("failed")) return "failure";
  return SUCCESS.has(name) ? "success" : undefined;
}

/** What a weakening operation's request says it did, or undefined when it did not weaken the trail. */
type Judge = (request: Record<string, unknown> | undefined) => AlertReason | undefined;

const isOff = (v: unknown) => v === false || (typeof v === "string" && /^(false|disabled?|off)$/i.test(v));

/**
 * `updateTracker` is one name for modifying, disabling and enabling a tracker: its request body says which.
 * Disabled (`status`), verification off (`is_support_validate`), or transfer off (no OBS bucket any more, v1
 * `bucket_name` or v3 `obs_info.bucket_name`), per the tracker APIs
 * (https://support.huaweicloud.com/intl/en-us/api-cts/cts_api_0321.html and the update API beside it). A body CTS
 * did not record cannot show it stayed on: it alerts, as an update that may have weakened the trail.
 */
const judgeTrackerUpdate: Judge = (request) => {
  if (!request || Object.keys(request).length === 0) return "tracker-update-unrecorded";
  if (isOff(field(request, "status"))) return "tracker-disabled";
  if (isOff(field(request, "is_support_validate"))) return "verification-off";
  const obs = field(request, "obs_info");
  const bucket =
    obs !== undefined && obs !== null ? field(obs, "bucket_name") : field(request, "bucket_name");
  if ((obs === null || bucket === "" || bucket === null) && (obs !== undefined || bucket !== undefined))
    return "transfer-off";
  return undefined;
};

const judgeNotificationUpdate: Judge = (request) =>
  !request || Object.keys(request).length === 0
    ? "notification-update-unrecorded"
    : isOff(field(request, "status"))
      ? "notification-disabled"
      : undefined;

/**
 * Operations that weaken the audit trail or the logins' protection (`audit-tamper`), by service and lower-case
 * trace name. Each cites the page that lists its trace name.
 */
const TAMPER: ReadonlyMap<string, { service: string; judge: Judge }> = new Map([
  // CTS's own operations: https://support.huaweicloud.com/intl/en-us/usermanual-cts/cts_03_0021_01.html
  // (also https://support.huaweicloud.com/en-us/usermanual-cts/cts_03_0057.html for the tracker names).
  ["deletetracker", { service: "CTS", judge: () => "tracker-deleted" }],
  ["updatetracker", { service: "CTS", judge: judgeTrackerUpdate }],
  ["deletenotification", { service: "CTS", judge: () => "notification-deleted" }],
  ["updatenotification", { service: "CTS", judge: judgeNotificationUpdate }],
  ["updatenotificationstatus", { service: "CTS", judge: judgeNotificationUpdate }],
  // IAM: "Unbinding a virtual MFA device | MFA | UnBindMFA",
  // https://docs.otc.t-systems.com/en-us/usermanual/iam/iam_01_0012.html
  ["unbindmfa", { service: "IAM", judge: () => "mfa-unbound" }],
]);

const IAM_ONLY: ReadonlySet<string> = new Set(["IAM"]);
const IAM_AND_CTS: ReadonlySet<string> = new Set(["IAM", "CTS"]);

/** The upper-case service folders whose files the rules need parsed; the others are only hashed. */
export function parsedServices(config: RulesConfig = DEFAULT_RULES): ReadonlySet<string> {
  return config.rules["audit-tamper"].enabled ? IAM_AND_CTS : IAM_ONLY;
}

/** An alert as the rules raise it; the engine adds the object, its region and its integrity. */
export type AuditAlert = Omit<Alert, "object" | "integrity" | "region">;

/** The result of auditing one raw trace. */
export type AuditOutcome =
  | { matched: false }
  | {
      matched: true;
      trace: Trace;
      /** One per rule that fired (none when the trace is fine). */
      alerts: AuditAlert[];
      /** A login success or failure with a time: what the windowed rules consume. */
      attempt?: Omit<LoginAttempt, "object" | "region">;
    };

/** An allowlist that applies to some users, domains or user types only (the rules file's `allow`). */
interface ScopedAllow {
  list: AllowList;
  users: ReadonlySet<string>;
  domains: ReadonlySet<string>;
  userTypes: ReadonlySet<string>;
}

/** The login's triage context (DESIGN "Detection"). */
interface LoginContext {
  traceType: string;
  userType: string;
  mfa: "on" | "off" | "";
  userAgent: string;
}

// A login's `message` is a short JSON text; a huge one is not parsed (it would cost more than the whole trace).
const MAX_MESSAGE_CHARS = 64 * 1024;

function jsonObject(value: unknown): Record<string, unknown> | undefined {
  let v = value;
  if (typeof v === "string") {
    if (v.length > MAX_MESSAGE_CHARS || !v.trimStart().startsWith("{")) return undefined;
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  return v !== null && typeof v === "object" && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

const text = (v: unknown) => (typeof v === "string" ? v.slice(0, 1024) : "");

/**
 * The context of a login trace: `trace_type`; `user_type` and login protection from the `message` JSON CTS writes
 * for logins (`{"login":{"user_type":"domain owner","login_protect":{"status":"on"}}}`, reference §2.3 Example A);
 * the user agent from `user_agent` or the message.
 */
function loginContext(raw: Record<string, unknown>): LoginContext {
  const login = jsonObject(field(jsonObject(field(raw, "message")), "login"));
  const protect = field(login, "login_protect");
  const status = typeof protect === "object" ? field(protect, "status") : protect;
  const on = status === true || (typeof status === "string" && /^(on|true|enabled?)$/i.test(status));
  return {
    traceType: text(field(raw, "trace_type")),
    userType: (text(field(login, "user_type")) || text(field(raw, "user_type"))).toLowerCase(),
    mfa: on ? "on" : isOff(status) ? "off" : "",
    userAgent: text(field(raw, "user_agent")) || text(field(login, "user_agent")),
  };
}

/**
 * A user's key for grouping attempts and keeping baselines, safe to store: as it is, or, when it holds a secret (a
 * failed login's user name is whatever was typed), redacted with a hash of the whole appended, so that two such
 * users stay two groups and the ledger keeps no secret.
 */
function groupKey(key: string): string {
  const shown = redactField(key);
  return shown === key ? key : `${shown}#${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
}

/** A trace's time as an alert shows it: ISO-8601, or empty when the trace has none. */
const isoTime = (trace: Trace) => (trace.time === undefined ? "" : new Date(trace.time).toISOString());

const lowerSet = (values: readonly string[]) => new Set(values.map((v) => v.trim().toLowerCase()));

/** Whether a trace's `service_type` allows the service: only another service's name rules it out. */
function serviceIs(service: unknown, s: string): boolean {
  // A service_type that is no string (an object, a number) is malformed, not another service: the trace is
  // audited (String() of such a value can also throw).
  return typeof service !== "string" || service === "" || service.toUpperCase() === s;
}

// Verdicts of the global allowlist, by address as recorded. Logins come from few addresses (offices, VPN exits)
// and judging one parses it and walks the list; a bounded memo, emptied when full, judges each once.
const VERDICT_MEMO_ENTRIES = 4096;
const VERDICT_MEMO_MAX_CHARS = 64;

/**
 * The per-trace detection rules (DESIGN "Detection"): which traces are audited, and the alerts of `ip-not-allowed`,
 * `owner-login`, `login-without-mfa` and `audit-tamper`. One trace may raise several alerts, one per rule. Logins
 * also become {@link LoginAttempt}s for the windowed rules.
 */
export class AuditRules {
  /** Audited login trace names, lower-case. */
  readonly events: ReadonlySet<string>;
  /** Every trace name a rule reads, lower-case: the parser's prefilter. */
  readonly prefilter: ReadonlySet<string>;
  /** The global allowlist: `--allow`, `--allow-file`, `CTS_AUDIT_ALLOW`/`IP` and the rules file's global entries. */
  readonly allowList: AllowList;
  private readonly scoped: ScopedAllow[];
  private readonly verdicts = new Map<string, IpVerdict>();
  /** Identifies the rules (events, allowlists, settings): a stored outcome is reused only under the same rules. */
  readonly id: string;

  constructor(
    events: readonly string[],
    allowList: AllowList,
    readonly config: RulesConfig = DEFAULT_RULES,
  ) {
    this.events = new Set(events.map((e) => e.toLowerCase()));
    const globals = config.allow.filter((a) => !a.users.length && !a.domains.length && !a.userTypes.length);
    this.allowList =
      globals.length === 0
        ? allowList
        : AllowList.parse([
            ...allowList.entries.map((value) => ({ value, origin: "allowlist" })),
            ...globals.flatMap((a) => a.cidrs.map((value) => ({ value, origin: a.origin }))),
          ]);
    this.scoped = config.allow
      .filter((a) => !globals.includes(a))
      .map((a) => ({
        list: AllowList.parse(a.cidrs.map((value) => ({ value, origin: a.origin }))),
        users: lowerSet(a.users),
        domains: lowerSet(a.domains),
        userTypes: lowerSet(a.userTypes),
      }));
    const tamper = config.rules["audit-tamper"].enabled ? [...TAMPER.keys()] : [];
    this.prefilter = new Set([...this.events, ...tamper]);
    this.id = createHash("sha256")
      .update(JSON.stringify([[...this.events].sort(), [...allowList.entries].sort(), rulesHash(config)]))
      .digest("hex")
      .slice(0, 16);
  }

  /**
   * Audits one raw trace. A login is audited when its `trace_name` is one of the events (case-insensitive:
   * `loginFailed` and `loginfailed` both occur) and its `service_type` is IAM when present; a tamper operation
   * when its name and service are in the tamper list. The time window is the engine's: outcomes stay reusable.
   */
  audit(raw: Record<string, unknown>): AuditOutcome {
    // Cheap checks on the raw fields first: most traces of a file are not audited and need no normalising.
    const name = field(raw, "trace_name");
    if (typeof name !== "string") return { matched: false };
    const lower = name.toLowerCase();
    const service = field(raw, "service_type");
    if (this.events.has(lower) && serviceIs(service, "IAM")) return this.auditLogin(raw);
    const tamper = this.config.rules["audit-tamper"].enabled ? TAMPER.get(lower) : undefined;
    if (tamper && serviceIs(service, tamper.service)) {
      const trace = normaliseTrace(raw);
      const reason = tamper.judge(jsonObject(field(raw, "request")));
      const alerts: AuditAlert[] = [];
      if (reason) alerts.push(this.alert(trace, "audit-tamper", reason, loginContext(raw), isoTime(trace)));
      return { matched: true, trace, alerts };
    }
    return { matched: false };
  }

  private auditLogin(raw: Record<string, unknown>): AuditOutcome {
    const trace = normaliseTrace(raw);
    const { rules } = this.config;
    // The context (the `message` JSON parsed) is read only when something needs it: an alert, a success's
    // owner and login-protection checks, or an allowlist scoped by user type. An allowed failure or logout,
    // a good share of an account's logins, needs none. loginContext is pure: reading it later changes nothing.
    let ctx: LoginContext | undefined;
    // Judged as CTS recorded it: the report shows the trimmed address, but a padded one is an odd spelling, which
    // is never silently allowed (AllowList.assess); a blank one is "missing".
    const recorded = field(raw, "source_ip");
    const verdict = this.verdict(typeof recorded === "string" ? recorded : trace.sourceIp, trace, raw);
    const alerts: AuditAlert[] = [];
    const outside = verdict !== "allowed" && rules["ip-not-allowed"].enabled;
    // One ISO text for every alert of the trace, made when the first alert needs it.
    let time: string | undefined;
    if (outside) {
      ctx = loginContext(raw);
      time = isoTime(trace);
      alerts.push(this.alert(trace, "ip-not-allowed", verdict, ctx, time));
    }
    const outcome = loginOutcome(trace.traceName);
    if (outcome === "success" && (rules["owner-login"].enabled || rules["login-without-mfa"].enabled)) {
      ctx ??= loginContext(raw);
      if (rules["owner-login"].enabled && ctx.userType === "domain owner") {
        const a = this.alert(trace, "owner-login", "owner-login", ctx, (time ??= isoTime(trace)));
        if (outside) a.severity = maxSeverity(a.severity!, "high");
        alerts.push(a);
      }
      // Only a console login has login protection: an API call (a token by password or key) never asks for it.
      if (
        rules["login-without-mfa"].enabled &&
        ctx.mfa === "off" &&
        ctx.traceType.toLowerCase() === "consoleaction"
      ) {
        alerts.push(
          this.alert(trace, "login-without-mfa", "login-protection-off", ctx, (time ??= isoTime(trace))),
        );
      }
    }
    if (outcome === undefined || trace.time === undefined) return { matched: true, trace, alerts };
    const user = trace.user.name;
    const domain = trace.user.domain || trace.user.domainId || text(field(raw, "domain_id"));
    return {
      matched: true,
      trace,
      alerts,
      // Redacted as an alert's fields are (see alert()): attempts become windowed and new-location alerts, and
      // the ledger keeps them and names baselines after their users.
      attempt: {
        time: trace.time,
        traceId: redactField(trace.traceId),
        // One of the audited names, whatever its case: nothing to redact.
        traceName: trace.traceName,
        outcome,
        user: redactField(user),
        // The name before the id: CTS writes a failed login without the user's id (reference §2.4), and a
        // failure and a success of one user must fall in one group.
        userKey: groupKey(`${domain}/${user || trace.user.id}`.toLowerCase()),
        domain: redactField(domain),
        sourceIp: redactField(trace.sourceIp),
      },
    };
  }

  /** The global allowlist's verdict, unless an entry scoped to this user, domain or user type allows it. */
  private verdict(sourceIp: string, trace: Trace, raw: Record<string, unknown>): IpVerdict {
    const verdict = this.globalVerdict(sourceIp);
    if (verdict !== "not-allowlisted" || this.scoped.length === 0) return verdict;
    const user = trace.user.name.toLowerCase();
    const domains = [trace.user.domain.toLowerCase(), trace.user.domainId.toLowerCase()];
    let userType: string | undefined;
    const applies = (s: ScopedAllow) =>
      (s.users.size === 0 || s.users.has(user)) &&
      (s.domains.size === 0 || domains.some((d) => d !== "" && s.domains.has(d))) &&
      (s.userTypes.size === 0 || s.userTypes.has((userType ??= loginContext(raw).userType)));
    return this.scoped.some((s) => applies(s) && s.list.check(sourceIp) === "allowed") ? "allowed" : verdict;
  }

  /** The global allowlist's verdict on an address as recorded (memoised: see VERDICT_MEMO_ENTRIES). */
  private globalVerdict(sourceIp: string): IpVerdict {
    if (sourceIp.length > VERDICT_MEMO_MAX_CHARS) return this.allowList.check(sourceIp);
    let verdict = this.verdicts.get(sourceIp);
    if (verdict === undefined) {
      if (this.verdicts.size >= VERDICT_MEMO_ENTRIES) this.verdicts.clear();
      verdict = this.allowList.check(sourceIp);
      this.verdicts.set(sourceIp, verdict);
    }
    return verdict;
  }

  private alert(
    trace: Trace,
    rule: keyof RulesConfig["rules"],
    reason: AlertReason,
    ctx: LoginContext,
    time: string,
  ): AuditAlert {
    // Every text taken from the trace is redacted here, once: an alert reaches every report, the ledger, SMN and
    // the fan-out's results, and a secret in a trace's field must reach none of them.
    return {
      traceId: redactField(trace.traceId),
      // An audited login name or a tamper operation's, whatever its case: nothing to redact.
      traceName: trace.traceName,
      user: redactField(trace.user.name),
      userId: redactField(trace.user.id),
      domain: redactField(trace.user.domain),
      sourceIp: redactField(trace.sourceIp),
      time,
      reason,
      rule,
      severity: this.config.rules[rule].severity,
      traceType: redactField(ctx.traceType),
      userType: redactField(ctx.userType),
      mfa: ctx.mfa,
      userAgent: redactField(ctx.userAgent),
    };
  }
}
