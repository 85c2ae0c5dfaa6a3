/**
 * The per-trace detection rules (issue 14): each pattern and its near miss, table-driven over traces built in code.
 */
import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import {
  AuditRules,
  DEFAULT_EVENTS,
  LOGIN_FAILURE_EVENTS,
  LOGIN_SUCCESS_EVENTS,
  loginOutcome,
  parsedServices,
} from "../../src/detect/AuditRules.js";
import { parseRules } from "../../src/detect/parseRules.js";
import type { RulesConfig } from "../../src/detect/RulesConfig.js";

const RULES_FILE = `
allow:
  - cidrs: [192.0.2.0/24]
  - cidrs: [198.51.100.7/32]
    users: [breakglass]
  - cidrs: [198.51.100.8/32]
    domains: [partner]
  - cidrs: [203.0.113.0/28]
    userTypes: ["domain owner"]
  - cidrs: [198.51.100.9/32]
    users: [ops]
    domains: [acme]
`;

function rulesOf(yaml = RULES_FILE, cli: string[] = ["10.0.0.0/8"], events = [...DEFAULT_EVENTS]) {
  const config: RulesConfig = parseRules(yaml, "rules.yaml").config;
  return new AuditRules(events, AllowList.parse(cli.map((value) => ({ value, origin: "--allow" }))), config);
}

const login = (over: Record<string, unknown> = {}, message?: Record<string, unknown>) => ({
  trace_id: "t1",
  trace_name: "login",
  service_type: "IAM",
  trace_type: "ConsoleAction",
  source_ip: "203.0.113.200",
  time: 1721358527589,
  user: { name: "alice", id: "u1", domain: { name: "acme", id: "d1" } },
  ...(message ? { message: JSON.stringify({ login: message }) } : {}),
  ...over,
});
const owner = { user_type: "domain owner", login_protect: { status: "on" } };
const user = (name: string, domain = "acme") => ({
  user: { name, id: `id-${name}`, domain: { name: domain } },
});

function fired(rules: AuditRules, raw: Record<string, unknown>): string[] {
  const out = rules.audit(raw);
  return out.matched ? out.alerts.map((a) => `${a.rule}/${a.severity}/${a.reason}`) : ["(not audited)"];
}

describe("ip-not-allowed: global and scoped allowlists", () => {
  const rules = rulesOf();
  it.each([
    ["a global rules-file entry allows anyone", login({ source_ip: "192.0.2.9" }), []],
    ["a global --allow entry allows anyone", login({ source_ip: "10.1.2.3" }), []],
    ["outside every list", login(), ["ip-not-allowed/high/not-allowlisted"]],
    ["a per-user entry allows that user", login({ source_ip: "198.51.100.7", ...user("breakglass") }), []],
    [
      "a per-user entry does not allow another user",
      login({ source_ip: "198.51.100.7", ...user("bob") }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
    ["user names match case-insensitively", login({ source_ip: "198.51.100.7", ...user("BreakGlass") }), []],
    [
      "a per-user entry is matched as an address, not as text",
      login({ source_ip: "198.51.100.70", ...user("breakglass") }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
    [
      "a per-domain entry allows its domain",
      login({ source_ip: "198.51.100.8", ...user("bob", "partner") }),
      [],
    ],
    [
      "a per-domain entry does not allow another domain",
      login({ source_ip: "198.51.100.8", ...user("bob", "acme") }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
    [
      "a per-user-type entry allows the owner",
      login({ source_ip: "203.0.113.5" }, owner),
      ["owner-login/medium/owner-login"],
    ],
    [
      "a per-user-type entry does not allow an IAM user",
      login({ source_ip: "203.0.113.5" }, { user_type: "iam user" }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
    [
      "users and domains together: both match",
      login({ source_ip: "198.51.100.9", ...user("ops", "acme") }),
      [],
    ],
    [
      "users and domains together: the user in another domain",
      login({ source_ip: "198.51.100.9", ...user("ops", "other") }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
    [
      "a scoped entry never allows a missing address",
      login({ source_ip: "", ...user("breakglass") }),
      ["ip-not-allowed/high/missing-source-ip"],
    ],
    [
      "a scoped entry never allows an odd spelling",
      login({ source_ip: "198.51.100.007", ...user("breakglass") }),
      ["ip-not-allowed/high/invalid-source-ip"],
    ],
    [
      "a logout from outside alerts",
      login({ trace_name: "logout" }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
    [
      "a failed SSO login from outside alerts",
      login({ trace_name: "iamUserSsoLoginFailed" }),
      ["ip-not-allowed/high/not-allowlisted"],
    ],
  ])("%s", (_, raw, expected) => {
    expect(fired(rules, raw)).toEqual(expected);
  });

  it("stays off when disabled, but the login is still audited", () => {
    const off = rulesOf("rules:\n  ip-not-allowed: { enabled: false }");
    expect(fired(off, login())).toEqual([]);
  });
});

describe("owner-login", () => {
  const rules = rulesOf();
  it.each([
    [
      "from an allowed address: medium",
      login({ source_ip: "192.0.2.1" }, owner),
      ["owner-login/medium/owner-login"],
    ],
    [
      "from outside: high, next to ip-not-allowed",
      login({}, owner),
      ["ip-not-allowed/high/not-allowlisted", "owner-login/high/owner-login"],
    ],
    [
      "an IAM user's login is not the owner's",
      login({ source_ip: "192.0.2.1" }, { user_type: "iam user" }),
      [],
    ],
    ["the owner's logout is no login", login({ source_ip: "192.0.2.1", trace_name: "logout" }, owner), []],
    [
      "the owner's federated login",
      login({ source_ip: "192.0.2.1", trace_name: "tenantLoginBySamlSuccess" }, owner),
      ["owner-login/medium/owner-login"],
    ],
    [
      "user_type in any case",
      login({ source_ip: "192.0.2.1" }, { user_type: "Domain Owner" }),
      ["owner-login/medium/owner-login"],
    ],
  ])("%s", (_, raw, expected) => {
    expect(fired(rules, raw)).toEqual(expected);
  });

  it("takes its severity from the rules file, raised to high only with ip-not-allowed", () => {
    const low = rulesOf("rules:\n  owner-login: { severity: low }");
    expect(fired(low, login({ source_ip: "10.0.0.1" }, owner))).toEqual(["owner-login/low/owner-login"]);
    expect(fired(low, login({}, owner))).toContain("owner-login/high/owner-login");
    const ipOff = rulesOf("rules:\n  ip-not-allowed: { enabled: false }");
    expect(fired(ipOff, login({}, owner))).toEqual(["owner-login/medium/owner-login"]);
  });
});

describe("login-without-mfa", () => {
  const rules = rulesOf();
  const off = { user_type: "iam user", login_protect: { status: "off" } };
  it.each([
    [
      "a console login with protection off",
      login({ source_ip: "192.0.2.1" }, off),
      ["login-without-mfa/medium/login-protection-off"],
    ],
    [
      "an API-only trace is no console login",
      login({ source_ip: "192.0.2.1", trace_type: "ApiCall" }, off),
      [],
    ],
    ["protection on", login({ source_ip: "192.0.2.1" }, { login_protect: { status: "on" } }), []],
    ["the trace does not say", login({ source_ip: "192.0.2.1" }, { user_type: "iam user" }), []],
    ["a failed login is no login", login({ source_ip: "192.0.2.1", trace_name: "loginFailed" }, off), []],
    ["a logout", login({ source_ip: "192.0.2.1", trace_name: "logout" }, off), []],
    [
      "a QR-code login with protection off",
      login({ source_ip: "192.0.2.1", trace_name: "scanQRCodeLogin" }, off),
      ["login-without-mfa/medium/login-protection-off"],
    ],
  ])("%s", (_, raw, expected) => {
    expect(fired(rules, raw)).toEqual(expected);
  });

  it("one trace raises one alert per rule that fires", () => {
    expect(fired(rules, login({}, { user_type: "domain owner", login_protect: { status: "off" } }))).toEqual([
      "ip-not-allowed/high/not-allowlisted",
      "owner-login/high/owner-login",
      "login-without-mfa/medium/login-protection-off",
    ]);
  });
});

describe("audit-tamper", () => {
  const rules = rulesOf();
  const cts = (name: string, request?: unknown) => ({
    trace_id: `tamper-${name}`,
    trace_name: name,
    service_type: "CTS",
    resource_type: "tracker",
    trace_type: "ConsoleAction",
    source_ip: "192.0.2.1",
    time: 1721358527589,
    user: { name: "mallory", id: "m", domain: { name: "acme", id: "d1" } },
    ...(request === undefined ? {} : { request }),
  });
  const tamper = (reason: string) => [`audit-tamper/critical/${reason}`];
  it.each([
    ["deleteTracker", cts("deleteTracker"), tamper("tracker-deleted")],
    [
      "a tracker disabled",
      cts("updateTracker", { tracker_name: "system", status: "disabled" }),
      tamper("tracker-disabled"),
    ],
    [
      "verification off",
      cts("updateTracker", { status: "enabled", is_support_validate: false }),
      tamper("verification-off"),
    ],
    [
      "transfer off (v3 obs_info without a bucket)",
      cts("updateTracker", { status: "enabled", obs_info: { bucket_name: "" } }),
      tamper("transfer-off"),
    ],
    ["transfer off (v1 bucket_name)", cts("updateTracker", { bucket_name: "" }), tamper("transfer-off")],
    [
      "the request as CTS's JSON text",
      cts("updateTracker", JSON.stringify({ status: "disabled" })),
      tamper("tracker-disabled"),
    ],
    ["an update CTS recorded no request of", cts("updateTracker"), tamper("tracker-update-unrecorded")],
    [
      "a tracker update that keeps it enabled, verified and transferred",
      cts("updateTracker", {
        status: "enabled",
        is_support_validate: true,
        obs_info: { bucket_name: "trail" },
      }),
      [],
    ],
    ["a tracker update that only renames the prefix", cts("updateTracker", { file_prefix_name: "new" }), []],
    ["createTracker strengthens", cts("createTracker", { status: "enabled" }), ["(not audited)"]],
    ["deleteNotification", cts("deleteNotification"), tamper("notification-deleted")],
    [
      "a notification disabled",
      cts("updateNotification", { status: "disabled" }),
      tamper("notification-disabled"),
    ],
    [
      "a notification status change to disabled",
      cts("updateNotificationStatus", { status: "disabled" }),
      tamper("notification-disabled"),
    ],
    ["a notification kept enabled", cts("updateNotification", { status: "enabled" }), []],
    ["UnBindMFA", { ...cts("UnBindMFA"), service_type: "IAM", resource_type: "MFA" }, tamper("mfa-unbound")],
    ["BindMFA strengthens", { ...cts("BindMFA"), service_type: "IAM" }, ["(not audited)"]],
    ["deleteTracker of another service", { ...cts("deleteTracker"), service_type: "ECS" }, ["(not audited)"]],
    ["names in any case", cts("DELETETRACKER"), tamper("tracker-deleted")],
  ])("%s", (_, raw, expected) => {
    expect(fired(rules, raw)).toEqual(expected);
  });

  it("is off when disabled: not audited, not prefiltered, CTS folders only hashed", () => {
    const off = rulesOf("rules:\n  audit-tamper: { enabled: false }");
    expect(fired(off, cts("deleteTracker"))).toEqual(["(not audited)"]);
    expect(off.prefilter.has("deletetracker")).toBe(false);
    expect([...parsedServices(off.config)]).toEqual(["IAM"]);
    expect([...parsedServices(rules.config)].sort()).toEqual(["CTS", "IAM"]);
    expect(rules.prefilter.has("deletetracker")).toBe(true);
  });
});

describe("every login kind, and the attempts the windowed rules consume", () => {
  const rules = rulesOf();
  it.each([
    ...LOGIN_SUCCESS_EVENTS.map((n) => [n, "success"]),
    ...LOGIN_FAILURE_EVENTS.map((n) => [n, "failure"]),
  ])("%s is audited by default, from outside it alerts, and it is a %s", (name, outcome) => {
    const out = rules.audit(login({ trace_name: name.toUpperCase() }));
    expect(out.matched && out.alerts.map((a) => a.rule)).toEqual(["ip-not-allowed"]);
    expect(out.matched && out.attempt?.outcome).toBe(outcome);
  });

  it.each([
    ["logout", undefined],
    ["loginfailed", "failure"],
    ["someNewLoginFailed", "failure"],
    ["createUser", undefined],
    ["LOGIN", "success"],
  ])("%s is a %s", (name, outcome) => {
    expect(loginOutcome(name)).toBe(outcome);
  });

  it("gives a failure without the user's id and a success with it one group key", () => {
    const failure = rules.audit(
      login({ trace_name: "loginFailed", user: { name: "Alice", id: "", domain: { name: "ACME" } } }),
    );
    const success = rules.audit(login({ user: { name: "alice", id: "u1", domain: { name: "acme" } } }));
    expect(failure.matched && failure.attempt).toEqual({
      time: 1721358527589,
      traceId: "t1",
      traceName: "loginFailed",
      outcome: "failure",
      user: "Alice",
      userKey: "acme/alice",
      domain: "ACME",
      sourceIp: "203.0.113.200",
    });
    expect(success.matched && success.attempt?.userKey).toBe("acme/alice");
  });

  it("makes no attempt of a logout, or of a trace without a time", () => {
    const logout = rules.audit(login({ trace_name: "logout" }));
    expect(logout.matched && logout.attempt).toBeUndefined();
    const untimed = rules.audit(login({ time: undefined, record_time: "garbage" }));
    expect(untimed.matched && untimed.attempt).toBeUndefined();
    expect(untimed.matched && untimed.alerts).toHaveLength(1);
  });

  it("makes an attempt even of an allowed login (the windowed rules count allowlisted addresses too)", () => {
    const out = rules.audit(login({ source_ip: "192.0.2.1" }));
    expect(out.matched && out.alerts).toEqual([]);
    expect(out.matched && out.attempt?.outcome).toBe("success");
  });

  it("--events replaces the audited set", () => {
    const custom = rulesOf(RULES_FILE, [], ["login"]);
    expect(fired(custom, login({ trace_name: "iamUserSsoLoginSuccess" }))).toEqual(["(not audited)"]);
    expect(fired(custom, login())).toEqual(["ip-not-allowed/high/not-allowlisted"]);
  });

  it("carries the triage context", () => {
    const out = rules.audit(
      login({ user_agent: "Mozilla/5.0" }, { user_type: "domain owner", login_protect: { status: "off" } }),
    );
    expect(out.matched && out.alerts[0]).toMatchObject({
      traceType: "ConsoleAction",
      userType: "domain owner",
      mfa: "off",
      userAgent: "Mozilla/5.0",
    });
  });

  it("changes its id with any setting, not with the order of its lists", () => {
    expect(rulesOf().id).toBe(rulesOf().id);
    expect(rulesOf().id).not.toBe(rulesOf("rules:\n  owner-login: { enabled: false }").id);
    expect(rulesOf().id).not.toBe(rulesOf(RULES_FILE, ["10.0.0.0/9"]).id);
  });
});
