import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";
import { placeMatches, type AuditMatch } from "../../src/parse/auditObject.js";

const rules = new AuditRules(
  [...DEFAULT_EVENTS],
  AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]),
);
const login = (over: Record<string, unknown>) => ({
  trace_id: "t",
  trace_name: "login",
  service_type: "IAM",
  source_ip: "203.0.113.7",
  time: 1721358527589,
  trace_type: "ConsoleAction",
  message: '{"login":{"user_type":"domain owner","login_protect":{"status":"off"}}}',
  user: '{"name":"alice","id":"u1","domain":{"name":"acme","id":"d"}}',
  ...over,
});

/** Matches as auditObject makes them: one per audited trace, with the trace's own region when it has one. */
function matchesOf(traces: Array<Record<string, unknown>>): AuditMatch[] {
  return traces.flatMap((raw) => {
    const outcome = rules.audit(raw);
    if (!outcome.matched) return [];
    const m: AuditMatch = { time: outcome.trace.time ?? null, alerts: outcome.alerts };
    if (outcome.attempt) m.attempt = outcome.attempt;
    if (typeof raw.region === "string") m.region = raw.region;
    return [m];
  });
}

/** The engine's former placing: copies, region from the trace else the folder's. */
function copied(matches: AuditMatch[], object: string, region: string) {
  return {
    times: matches.map((m) => m.time),
    alerts: matches.flatMap((m) =>
      m.alerts.map((a) => ({ ...a, region: m.region ?? region, object, integrity: "unverified" })),
    ),
    attempts: matches.flatMap((m) =>
      m.attempt ? [{ ...m.attempt, region: m.region ?? region, object }] : [],
    ),
  };
}

describe("placeMatches", () => {
  it.each([
    ["no matches", []],
    ["an owner login without MFA from outside (three alerts and an attempt)", [login({})]],
    ["an allowed login (an attempt, no alert)", [login({ source_ip: "192.0.2.9", message: "" })]],
    ["a logout (an alert, no attempt)", [login({ trace_name: "logout", message: "" })]],
    ["a login with its own region", [login({ region: "eu-west-101" })]],
    ["a login without a time (alerts, no attempt)", [login({ time: undefined, record_time: undefined })]],
    [
      "a mix, in file order",
      [
        login({ trace_id: "a" }),
        login({ trace_id: "b", trace_name: "loginFailed", region: "cn-north-4" }),
        login({ trace_id: "c", trace_name: "createUser" }),
        login({ trace_id: "d", source_ip: "192.0.2.1" }),
      ],
    ],
  ])("gives what copying gave, key order included: %s", (_name, traces) => {
    const expected = copied(matchesOf(traces), "CloudTraces/k.json.gz", "ap-southeast-1");
    const placed = placeMatches(matchesOf(traces), "CloudTraces/k.json.gz", "ap-southeast-1");
    expect(JSON.stringify(placed)).toBe(JSON.stringify(expected));
  });
});
