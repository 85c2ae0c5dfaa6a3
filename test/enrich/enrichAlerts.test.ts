import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Alert } from "../../src/detect/types.js";
import { enrichAlerts, geoFields } from "../../src/enrich/enrichAlerts.js";
import { GeoLookup } from "../../src/enrich/GeoLookup.js";

// enrichAlerts builds each enriched alert in one object; it must equal the former `{ ...a, ...geoFields(info) }`
// key for key and in key order (the JSON report prints alerts in their key order).

const geo = GeoLookup.open();

const alertArb: fc.Arbitrary<Alert> = fc
  .record(
    {
      ip: fc.oneof(
        fc.ipV4(),
        fc.ipV6(),
        fc.constantFrom("8.8.8.8", "::ffff:8.8.8.8", "10.0.0.1", "192.0.2.7", "", "garbage", "2001:db8::1"),
      ),
      // What an alert may carry already: a network without a country (an older ledger), a note.
      asn: fc.option(fc.integer({ min: 1, max: 70000 }), { nil: undefined }),
      geoNote: fc.option(fc.constant("kept note"), { nil: undefined }),
      country: fc.option(fc.constantFrom("DE", ""), { freq: 4, nil: undefined }),
    },
    { requiredKeys: ["ip"] },
  )
  .map(({ ip, asn, geoNote, country }) => {
    const a: Alert = {
      traceId: "t1",
      traceName: "login",
      user: "alice",
      userId: "u1",
      domain: "acme",
      sourceIp: ip,
      time: "2024-07-19T03:08:47.589Z",
      reason: "not-allowlisted",
      rule: "ip-not-allowed",
      severity: "high",
      region: "cn-north-4",
      object: "CloudTraces/x.json.gz",
      integrity: "unverified",
    };
    if (asn !== undefined) a.asn = asn;
    if (geoNote !== undefined) a.geoNote = geoNote;
    if (country !== undefined) a.country = country;
    return a;
  });

describe("enrichAlerts", () => {
  it("gives what spreading the lookup's fields over the alert gives, in the same key order", () => {
    fc.assert(
      fc.property(fc.array(alertArb, { maxLength: 20 }), (alerts) => {
        const got = enrichAlerts(alerts, geo);
        const expected = alerts.map((a) =>
          a.country !== undefined ? a : { ...a, ...geoFields(geo.lookup(a.sourceIp)) },
        );
        expect(JSON.stringify(got)).toBe(JSON.stringify(expected));
        expect(got).toEqual(expected);
      }),
      { numRuns: 300, seed: 18 },
    );
  });

  it("keeps an own __proto__ key (a tampered ledger's alert) as a key, as the spread did", () => {
    const [a] = fc.sample(alertArb, { numRuns: 1, seed: 2 });
    const tampered = JSON.parse(
      JSON.stringify({ ...a!, country: undefined }).replace("{", '{"__proto__":{"polluted":true},'),
    ) as Alert;
    const [got] = enrichAlerts([tampered], geo);
    expect(Object.hasOwn(got!, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(JSON.stringify(got)).toBe(
      JSON.stringify({ ...tampered, ...geoFields(geo.lookup(tampered.sourceIp)) }),
    );
  });

  it("leaves the alerts it is given as they were", () => {
    const [a] = fc.sample(alertArb, { numRuns: 1, seed: 1 });
    const before = JSON.stringify(a);
    enrichAlerts([{ ...a!, country: undefined }], geo);
    enrichAlerts([a!], geo);
    expect(JSON.stringify(a)).toBe(before);
  });
});
