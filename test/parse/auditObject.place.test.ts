import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";
import {
  auditObject,
  placeAlerts,
  placeAttempts,
  type AuditMatch,
  type AuditReadOptions,
} from "../../src/parse/auditObject.js";

// placeAlerts and placeAttempts complete the matches' own objects in place where the engine used to copy each
// with a spread; the run must keep the same alerts and attempts, key for key and in key order (reports and the
// ledger print them in that order).

const rules = new AuditRules(
  [...DEFAULT_EVENTS],
  AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]),
);

const traceArb = fc.record(
  {
    trace_id: fc.constantFrom("t1", "t2", ""),
    trace_name: fc.constantFrom("login", "loginFailed", "logout", "createUser", "deleteTracker"),
    service_type: fc.constantFrom("IAM", "CTS"),
    source_ip: fc.constantFrom("192.0.2.7", "203.0.113.9", "", "x"),
    time: fc.integer({ min: 1e12, max: 2e12 }),
    region: fc.constantFrom("eu-west-101", "", 7),
    user: fc.constantFrom('{"name":"alice","domain":{"name":"acme"}}', "bob"),
    message: fc.constantFrom('{"login":{"user_type":"domain owner","login_protect":{"status":"off"}}}', ""),
    trace_type: fc.constantFrom("ConsoleAction", "ApiCall"),
  },
  { requiredKeys: ["trace_name", "time"] },
);

const READ: AuditReadOptions = {
  hashAlgorithms: ["md5"],
  bufferLimit: 1 << 20,
  maxDecompressedBytes: 1 << 30,
};

/** The engine's former placement, as it was written in src/engine/scanObject.ts. */
function spreadAlerts(matches: AuditMatch[], region: string, object: string) {
  return matches.flatMap((m) =>
    m.alerts.map((alert) => ({
      ...alert,
      region: m.region ?? region,
      object,
      integrity: "unverified" as const,
    })),
  );
}
function spreadAttempts(matches: AuditMatch[], region: string, object: string) {
  return matches.flatMap((m) => (m.attempt ? [{ ...m.attempt, region: m.region ?? region, object }] : []));
}

describe("placeAlerts and placeAttempts against the former spreads", () => {
  it("give the same alerts and attempts, in the same key order, for the matches of generated files", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(traceArb, { maxLength: 30 }), async (traces) => {
        const file = Buffer.from(JSON.stringify(traces));
        const read = () => auditObject(file, rules, READ);
        const [a, b] = [await read(), await read()];
        const object = "CloudTraces/cn-north-4/2024/07/19/system/IAM/f.json.gz";
        const expectedAlerts = spreadAlerts(b.matches, "cn-north-4", object);
        const expectedAttempts = spreadAttempts(b.matches, "cn-north-4", object);
        expect(JSON.stringify(placeAlerts(a.matches, "cn-north-4", object))).toBe(
          JSON.stringify(expectedAlerts),
        );
        expect(JSON.stringify(placeAttempts(a.matches, "cn-north-4", object))).toBe(
          JSON.stringify(expectedAttempts),
        );
        expect(placeAlerts(a.matches, "cn-north-4", object)).toEqual(expectedAlerts);
      }),
      { numRuns: 200, seed: 18 },
    );
  });

  it("meets alerts, attempts and traces' own regions in the generated files", async () => {
    const traces = fc.sample(traceArb, { numRuns: 300, seed: 3 });
    const { matches } = await auditObject(Buffer.from(JSON.stringify(traces)), rules, READ);
    const alerts = placeAlerts(matches, "cn-north-4", "o");
    expect(new Set(alerts.map((x) => x.region))).toEqual(new Set(["eu-west-101", "", "cn-north-4"]));
    expect(placeAttempts(matches, "cn-north-4", "o").length).toBeGreaterThan(0);
  });
});
