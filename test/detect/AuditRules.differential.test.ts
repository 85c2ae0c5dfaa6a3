import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";
import { DEFAULT_RULES, type AllowRule, type RulesConfig } from "../../src/detect/RulesConfig.js";
import { ReferenceAuditRules } from "./support/ReferenceAuditRules.js";

// The per-trace rules read a login's context (its `message` JSON) and its alert time only when something needs
// them, where they used to read both for every login. Their answers must not change: over generated traces and
// rule settings, the current rules and the former ones (test/detect/support) give the same outcome, byte for byte
// as JSON (the report's key order included).

const nameArb = fc.oneof(
  fc.constantFrom(...DEFAULT_EVENTS, "loginfailed", "LOGIN", "Logout", "createUser", "deleteTracker"),
  fc.constantFrom("updateTracker", "unbindMFA", "customLoginFailed", ""),
);
const ipArb = fc.oneof(
  fc.constantFrom(
    "192.0.2.7",
    "192.0.2.200",
    "203.0.113.9",
    "198.51.100.3",
    "::ffff:192.0.2.7",
    "2001:db8::1",
  ),
  fc.constantFrom("", " 192.0.2.7", "192.0.2.7:443", "010.0.0.1", "garbage", "[2001:db8::1]"),
  fc.ipV4(),
);
const protectArb = fc.oneof(
  fc.constantFrom("on", "off", "OFF", "disabled", "enabled", "true", "false", "maybe"),
  fc.constantFrom(true, false, null, 1),
  fc.constantFrom("on", "off", "disabled").map((status) => ({ status, verification_method: "vmfa" })),
);
const loginArb = fc.record(
  {
    user_type: fc.constantFrom("domain owner", "Domain Owner", "iam user", "", 7),
    login_protect: protectArb,
    user_agent: fc.constantFrom("curl/8", ""),
    session: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: [] },
);
const messageArb = fc.oneof(
  loginArb.map((login) => JSON.stringify({ login })),
  loginArb.map((login) => ` ${JSON.stringify({ login })}`),
  loginArb.map((login) => ({ login })),
  fc.constantFrom("", "not json", "{broken", "[1,2]", '{"login":"x"}', "null"),
);
const userArb = fc.oneof(
  fc
    .constantFrom("alice", "bob", "Carol")
    .map((name) => JSON.stringify({ name, id: `id-${name}`, domain: { name: "acme", id: "d1" } })),
  fc.constantFrom("alice", "bob").map((name) => ({ name, domain: { name: "ACME", id: "d1" } })),
  fc.constantFrom("bare-name", "", "{}"),
);
const traceArb = fc.record(
  {
    trace_id: fc.constantFrom("t1", "t2", ""),
    trace_name: nameArb,
    service_type: fc.constantFrom("IAM", "iam", "CTS", "ECS", "", 5),
    source_ip: ipArb,
    time: fc.oneof(
      fc.integer({ min: 1e12, max: 2e12 }),
      fc.integer({ min: 1e9, max: 2e9 }),
      fc.constant("x"),
    ),
    record_time: fc.integer({ min: 1e12, max: 2e12 }),
    user: userArb,
    message: messageArb,
    trace_type: fc.constantFrom("ConsoleAction", "consoleaction", "ApiCall", "", 3),
    user_type: fc.constantFrom("domain owner", "iam user"),
    user_agent: fc.constantFrom("Mozilla/5.0", ""),
    domain_id: fc.constantFrom("d1", ""),
    request: fc.constantFrom("", '{"status":"disabled"}', '{"obs_info":{"bucket_name":""}}', "{}"),
  },
  { requiredKeys: ["trace_name"] },
);

const scopedArb: fc.Arbitrary<AllowRule[]> = fc.array(
  fc.record({
    cidrs: fc.constantFrom(["203.0.113.0/24"], ["198.51.100.3/32", "2001:db8::/32"]),
    users: fc.constantFrom([], ["alice"], ["bob", "carol"]),
    domains: fc.constantFrom([], ["acme"], ["d1"], ["other"]),
    userTypes: fc.constantFrom([], ["domain owner"], ["iam user"]),
    origin: fc.constant("rules.yaml: allow[0]"),
  }),
  { maxLength: 3 },
);
const configArb: fc.Arbitrary<RulesConfig> = fc
  .record({
    allow: scopedArb,
    ip: fc.boolean(),
    owner: fc.boolean(),
    mfa: fc.boolean(),
    tamper: fc.boolean(),
  })
  .map(({ allow, ip, owner, mfa, tamper }) => {
    const r = DEFAULT_RULES.rules;
    return {
      ...DEFAULT_RULES,
      allow,
      rules: {
        ...r,
        "ip-not-allowed": { ...r["ip-not-allowed"], enabled: ip },
        "owner-login": { ...r["owner-login"], enabled: owner },
        "login-without-mfa": { ...r["login-without-mfa"], enabled: mfa },
        "audit-tamper": { ...r["audit-tamper"], enabled: tamper },
      },
    };
  });

describe("AuditRules: the current rules against the former ones", () => {
  it("give the same outcome for generated traces under generated settings", () => {
    const allow = AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]);
    fc.assert(
      fc.property(configArb, fc.array(traceArb, { minLength: 1, maxLength: 20 }), (config, traces) => {
        const current = new AuditRules([...DEFAULT_EVENTS], allow, config);
        const reference = new ReferenceAuditRules([...DEFAULT_EVENTS], allow, config);
        for (const t of traces) {
          const a = current.audit(structuredClone(t));
          const b = reference.audit(structuredClone(t));
          expect(JSON.stringify(a)).toBe(JSON.stringify(b));
          expect(a).toEqual(b);
        }
      }),
      { numRuns: 500, seed: 18 },
    );
  });

  it("meets every per-trace rule in the generated traces (the comparison is not between empty outcomes)", () => {
    const allow = AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]);
    const rules = new AuditRules([...DEFAULT_EVENTS], allow);
    const seen = new Set<string>();
    for (const t of fc.sample(traceArb, { numRuns: 3000, seed: 5 })) {
      const out = rules.audit(t);
      if (out.matched) for (const a of out.alerts) seen.add(a.rule ?? "?");
    }
    expect(seen).toEqual(new Set(["ip-not-allowed", "owner-login", "login-without-mfa", "audit-tamper"]));
  });
});
