import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { describe, expect, it } from "vitest";
import { parseIpAddress } from "../../src/detect/AllowList.js";
import { ipv4Peer } from "../../src/enrich/GeoLookup.js";

// ipv4Peer is a hand-written stand-in for ipaddr.js's isIPv4MappedAddress() + toIPv4Address() (which classify the
// address against every special range first): ipaddr.js is the independent implementation it is checked against.

const group = fc.integer({ min: 0, max: 0xffff });
/** Addresses near the mapped block (::ffff:0:0/96) as often as elsewhere: one group off is the interesting case. */
const partsArb = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }),
  fc.tuple(group, group).map(([a, b]) => [0, 0, 0, 0, 0, 0xffff, a, b]),
  fc
    .tuple(fc.integer({ min: 0, max: 5 }), fc.constantFrom(1, 0xfffe, 0xffff, 0), group, group)
    .map(([at, v, a, b]) => {
      const p = [0, 0, 0, 0, 0, 0xffff, a, b];
      p[at] = v;
      return p;
    }),
  fc.tuple(group, group).map(([a, b]) => [0, 0, 0, 0, 0, 0, a, b]),
  fc.tuple(group, group).map(([a, b]) => [0, 0, 0, 0, 0xffff, 0, a, b]),
);

describe("ipv4Peer against ipaddr.js", () => {
  it("names the same IPv4 peer, or none, for any address", () => {
    fc.assert(
      fc.property(partsArb, (parts) => {
        const v6 = new ipaddr.IPv6(parts);
        const expected = v6.isIPv4MappedAddress() ? v6.toIPv4Address() : undefined;
        const got = ipv4Peer(v6);
        expect(got?.octets).toEqual(expected?.octets);
        expect(got?.kind()).toBe(expected?.kind());
      }),
      { numRuns: 5000, seed: 18 },
    );
  });

  // As the strict parser reads them (ipaddr.js's own parser takes the IPv4-compatible ::a.b.c.d for mapped).
  it.each([
    ["8.8.8.8", "8.8.8.8"],
    ["::ffff:8.8.8.8", "8.8.8.8"],
    ["::ffff:0:0", "0.0.0.0"],
    ["::ffff:ffff:ffff", "255.255.255.255"],
    ["::8.8.8.8", undefined],
    ["::ffff:0:8.8.8.8", undefined],
    ["2001:db8::ffff:808:808", undefined],
  ])("%s: %s", (text, peer) => {
    const parsed = parseIpAddress(text);
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(ipv4Peer(parsed.address.value)?.toString()).toBe(peer);
  });
});
