import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";

const allow = AllowList.parse([
  { value: "192.0.2.0/24", origin: "test" },
  { value: "2001:db8:1::/48", origin: "test" },
]);
const login = (sourceIp: unknown) => ({
  trace_id: "t1",
  trace_name: "login",
  service_type: "IAM",
  source_ip: sourceIp,
  time: 1721358527589,
  user: { name: "alice", id: "u1", domain: { name: "acme", id: "d" } },
});
/** The ip-not-allowed reason the rules give, or "allowed". */
const reasonOf = (rules: AuditRules, sourceIp: unknown) => {
  const outcome = rules.audit(login(sourceIp));
  if (!outcome.matched) throw new Error("a login must be audited");
  return outcome.alerts.find((a) => a.rule === "ip-not-allowed")?.reason ?? "allowed";
};

/** Addresses as traces record them: inside and outside both ranges, padded, malformed, odd spellings. */
const address = fc.oneof(
  fc.nat(255).map((n) => `192.0.2.${n}`),
  fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `198.51.${a}.${b}`),
  fc.nat(0xffff).map((n) => `2001:db8:1:${n.toString(16)}::1`),
  fc.nat(0xffff).map((n) => `2001:db8:2:${n.toString(16)}::1`),
  fc.nat(255).map((n) => ` 192.0.2.${n}`),
  fc.constantFrom(
    "",
    "  ",
    "192.0.2.010",
    "192.0.2.1:80",
    "::ffff:192.0.2.5",
    "::192.0.2.5",
    "[2001:db8:1::1]",
  ),
  fc.string({ maxLength: 16 }),
  fc.string({ minLength: 60, maxLength: 80 }),
);

describe("AuditRules: the allowlist's verdicts, judged once per address", () => {
  it("gives the allowlist's own verdict for every address, repeated or not", () => {
    fc.assert(
      fc.property(
        fc.array(address, { minLength: 1, maxLength: 10 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (pool, picks) => {
          const rules = new AuditRules([...DEFAULT_EVENTS], allow);
          for (const pick of picks) {
            const ip = pool[pick % pool.length]!;
            expect(reasonOf(rules, ip), JSON.stringify(ip)).toBe(allow.check(ip));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stays right past its capacity: more distinct addresses than it holds, then the first ones again", () => {
    const rules = new AuditRules([...DEFAULT_EVENTS], allow);
    const ips = Array.from({ length: 6000 }, (_, i) =>
      i % 2 ? `192.0.2.${i % 256}` : `198.51.${(i >> 8) % 256}.${i % 256}`,
    ).map((ip, i) => (i % 3 === 0 ? `2001:db8:${(i % 2) + 1}:${i.toString(16)}::1` : ip));
    for (const round of [0, 1])
      for (const ip of ips) expect(reasonOf(rules, ip), `round ${round}: ${ip}`).toBe(allow.check(ip));
  });
});
