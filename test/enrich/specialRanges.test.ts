import ipaddr from "ipaddr.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GLOBAL_IN_SPECIAL, SPECIAL_BLOCKS, specialRangeNote } from "../../src/enrich/specialRanges.js";

/**
 * Differential: ipaddr.js's own classification (an independent table) calls every address of our blocks something
 * other than `unicast`, and every address it calls `unicast` is outside them. Blocks where the two registries'
 * readings differ are listed with the reason.
 */
// ipaddr.js calls these unicast; the IANA registries mark them not globally reachable (our table's source).
// ::/96 is the deprecated IPv4-compatible form (RFC 4291 §2.5.5.1), in no registry and announced by no one.
const WE_ALSO_EXCLUDE = new Set(["::/96", "100::/64", "3fff::/20", "64:ff9b:1::/48", "2001:2::/48"]);
// ipaddr.js names these non-unicast, but they are globally routed relays/translators: the data decides.
const THEY_ALSO_EXCLUDE = new Set([
  "6to4",
  "teredo",
  "rfc6052",
  "rfc6145",
  "as112",
  "as112v6",
  "orchid2",
  "amt",
  "droneRemoteIdProtocolEntityTags",
]);

const globals = GLOBAL_IN_SPECIAL.map((c) => ipaddr.parseCIDR(c));
const isGlobalAllocation = (address: ipaddr.IPv4 | ipaddr.IPv6) =>
  globals.some((r) => r[0].kind() === address.kind() && address.match(r));

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => new ipaddr.IPv4(o));
const v6 = fc.array(fc.nat(0xffff), { minLength: 8, maxLength: 8 }).map((p) => new ipaddr.IPv6(p));
// Addresses inside our blocks and the allocations inside them, so the property sees them often.
const inBlock = fc
  .tuple(fc.constantFrom(...SPECIAL_BLOCKS.map(([c]) => c), ...GLOBAL_IN_SPECIAL), fc.nat())
  .map(([cidr, n]) => {
    const [net, bits] = ipaddr.parseCIDR(cidr);
    const bytes = net.toByteArray();
    for (let i = bytes.length - 1, r = n, hostBits = bytes.length * 8 - bits; i >= 0 && hostBits > 0; i--) {
      const take = Math.min(8, hostBits);
      bytes[i]! |= r & ((1 << take) - 1);
      r >>>= take;
      hostBits -= take;
    }
    return ipaddr.fromByteArray(bytes);
  });

describe("specialRangeNote", () => {
  it("agrees with ipaddr.js's range() over generated addresses", () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6, inBlock), (address) => {
        if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress()) return;
        // ipaddr.js files the globally reachable anycast addresses (192.0.0.9, 2001:1::1, ...) under "reserved".
        if (isGlobalAllocation(address)) {
          expect(specialRangeNote(address), address.toString()).toBeUndefined();
          return;
        }
        const theirs = address.range();
        const ours = specialRangeNote(address);
        const ourBlock = SPECIAL_BLOCKS.find(([c]) => {
          const r = ipaddr.parseCIDR(c);
          return r[0].kind() === address.kind() && address.match(r);
        })?.[0];
        if (ours === undefined)
          expect(
            theirs === "unicast" || THEY_ALSO_EXCLUDE.has(theirs),
            `${address.toString()} ${theirs}`,
          ).toBe(true);
        else if (!WE_ALSO_EXCLUDE.has(ourBlock!))
          expect(theirs, `${address.toString()} (${ours})`).not.toBe("unicast");
      }),
      { numRuns: 20_000 },
    );
  });

  it.each(SPECIAL_BLOCKS.map(([cidr, note]) => ({ cidr, note })))(
    "$cidr: first and last address are '$note'",
    ({ cidr, note }) => {
      const [net, bits] = ipaddr.parseCIDR(cidr);
      const first = ipaddr.fromByteArray(net.toByteArray());
      const last =
        net.kind() === "ipv4" ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr) : lastV6(net as ipaddr.IPv6, bits);
      // Blocks nested in a wider one (::1 in ::/96) answer with the narrower one's note, which comes first.
      // A globally reachable allocation at a block's edge (Teredo at the start of 2001::/23) is looked up.
      const expected = (a: ipaddr.IPv4 | ipaddr.IPv6, n: string) => (isGlobalAllocation(a) ? undefined : n);
      expect([specialRangeNote(first), specialRangeNote(last)]).toEqual([
        expected(first, cidr === "::/96" ? "unspecified address" : note),
        expected(last, note),
      ]);
    },
  );

  it.each([
    ["2001:1::5", "reserved range (IETF protocol assignments)"],
    ["2001:5::1", "reserved range (IETF protocol assignments)"],
    ["2001:1ff:ffff::1", "reserved range (IETF protocol assignments)"],
    ["2001:2::1", "reserved range (benchmarking)"],
    ["2001:1::1", undefined],
    ["2001:1::3", undefined],
    ["2001:0:4136:e378::1", undefined],
    ["2001:3::1", undefined],
    ["2001:4:112::1", undefined],
    ["2001:20::1", undefined],
    ["2001:30::1", undefined],
    ["2001:200::1", undefined],
    ["192.0.0.8", "reserved range (IETF protocol assignments)"],
    ["192.0.0.9", undefined],
    ["192.0.0.10", undefined],
    ["192.0.0.11", "reserved range (IETF protocol assignments)"],
  ])("%s in or beside the IETF protocol assignments (192.0.0.0/24, 2001::/23): %s", (text, note) => {
    expect(specialRangeNote(ipaddr.parse(text))).toBe(note);
  });
});

function lastV6(net: ipaddr.IPv6, bits: number): ipaddr.IPv6 {
  const bytes = net.toByteArray();
  for (let i = 0; i < 16; i++) {
    const hostBits = Math.max(0, Math.min(8, (i + 1) * 8 - bits));
    bytes[i]! |= (1 << hostBits) - 1;
  }
  return ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
}
