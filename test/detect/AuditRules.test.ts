import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";
import { TimeWindow } from "../../src/detect/TimeWindow.js";

const allow = AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]);
const rules = new AuditRules([...DEFAULT_EVENTS], allow);
const trace = (over: Record<string, unknown>) => ({
  trace_id: "t1",
  trace_name: "login",
  service_type: "IAM",
  source_ip: "203.0.113.7",
  time: 1721358527589,
  user: { name: "alice", id: "u1", domain: { name: "acme", id: "d" } },
  ...over,
});

describe("AuditRules.audit", () => {
  it.each([
    ["login", true],
    ["LOGIN", true],
    ["logout", true],
    ["loginFailed", true],
    ["loginfailed", true],
    ["LoginFailed", true],
    ["createUser", false],
    ["log", false],
    ["in", false],
    ["loginFailedX", false],
  ])("trace name %s audited: %s", (name, audited) => {
    expect(rules.audit(trace({ trace_name: name })).matched).toBe(audited);
  });

  it.each([
    [{ service_type: "IAM" }, true],
    [{ service_type: "iam" }, true],
    [{ service_type: undefined }, true],
    [{ service_type: "" }, true],
    [{ service_type: "ECS" }, false],
    [{ service_type: "OBS" }, false],
  ])("service %j audited: %s", (over, audited) => {
    expect(rules.audit(trace(over)).matched).toBe(audited);
  });

  it("alerts on a login from outside the allowlist, with the report's fields", () => {
    const out = rules.audit(trace({}));
    expect(out.matched && out.alerts).toEqual([
      {
        traceId: "t1",
        traceName: "login",
        user: "alice",
        userId: "u1",
        domain: "acme",
        sourceIp: "203.0.113.7",
        time: "2024-07-19T03:08:47.589Z",
        reason: "not-allowlisted",
        rule: "ip-not-allowed",
        severity: "high",
        traceType: "",
        userType: "",
        mfa: "",
        userAgent: "",
      },
    ]);
  });

  it("does not alert on an allowlisted IP but counts it as matched", () => {
    const out = rules.audit(trace({ source_ip: "192.0.2.5" }));
    expect(out.matched).toBe(true);
    expect(out.matched && out.alerts).toEqual([]);
  });

  it.each([
    ["", "missing-source-ip"],
    ["garbage", "invalid-source-ip"],
  ])("source_ip %j alerts as %s", (ip, reason) => {
    const out = rules.audit(trace({ source_ip: ip }));
    expect(out.matched && out.alerts.map((a) => a.reason)).toEqual([reason]);
  });

  it("honours a custom event list, case-insensitively", () => {
    const custom = new AuditRules(["scanQRCodeLogin"], allow);
    expect(custom.audit(trace({ trace_name: "scanqrcodelogin" })).matched).toBe(true);
    expect(custom.audit(trace({ trace_name: "login" })).matched).toBe(false);
  });

  it("identifies its rules: same events and allowlist, same id, whatever the order", () => {
    const a = new AuditRules(
      ["login", "logout"],
      AllowList.parse([
        { value: "10.0.0.0/8", origin: "t" },
        { value: "192.0.2.1", origin: "t" },
      ]),
    );
    const b = new AuditRules(
      ["LOGOUT", "login"],
      AllowList.parse([
        { value: "192.0.2.1", origin: "t" },
        { value: "10.0.0.0/8", origin: "t" },
      ]),
    );
    const c = new AuditRules(["login", "logout"], AllowList.parse([{ value: "10.0.0.0/8", origin: "t" }]));
    expect(a.id).toBe(b.id);
    expect(a.id).not.toBe(c.id);
  });
});

describe("TimeWindow", () => {
  it("keeps [since, until) and traces without a time", () => {
    const since = new Date("2024-07-19T03:00:00Z");
    const until = new Date("2024-07-19T04:00:00Z");
    const w = new TimeWindow(since, until);
    expect(w.contains(since.getTime())).toBe(true);
    expect(w.contains(since.getTime() - 1)).toBe(false);
    expect(w.contains(until.getTime() - 1)).toBe(true);
    expect(w.contains(until.getTime())).toBe(false);
    expect(w.contains(undefined)).toBe(true);
    expect(new TimeWindow(undefined, undefined).contains(0)).toBe(true);
  });
});

describe("AuditRules: secrets in a trace's text", () => {
  const named = (name: string) => {
    const o = rules.audit(
      trace({ trace_name: "loginFailed", user: { name, id: "", domain: { name: "acme", id: "d" } } }),
    );
    if (!o.matched) throw new Error("not audited");
    return o;
  };

  it("are redacted in alerts and attempts, and two users that differ only in a secret stay two groups", () => {
    const a = named("svc-token: build");
    const b = named("svc-token: deploy");
    for (const o of [a, b]) {
      expect(o.alerts?.[0]?.user).toBe("svc-token: [REDACTED]");
      expect(o.attempt?.user).toBe("svc-token: [REDACTED]");
      expect(JSON.stringify(o.attempt)).not.toMatch(/build|deploy/);
    }
    expect(a.attempt?.userKey).toMatch(/^acme\/svc-token: \[REDACTED\]#[0-9a-f]{12}$/);
    expect(a.attempt?.userKey).not.toBe(b.attempt?.userKey);
    // The same user, the same key (baselines and windows across runs).
    expect(named("svc-token: build").attempt?.userKey).toBe(a.attempt?.userKey);
    // A user name without a secret keeps its key as it is.
    expect(named("Alice").attempt?.userKey).toBe("acme/alice");
  });
});
