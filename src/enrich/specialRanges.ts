import ipaddr from "ipaddr.js";

/**
 * Address blocks that are not globally routed to one network, so no country or ASN can be said of them: the IANA
 * IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and its updates: RFC 9637 for 3fff::/20), plus
 * multicast and the reserved class E. A lookup database may still hold an entry for some of them (registries
 * record who was assigned `192.0.2.0/24`'s neighbours, whois data is noisy), and a guess there would mislead a
 * person at 3 a.m. more than "private range" does, so these are decided before any database is asked.
 *
 * Hand-written as a table (not ipaddr.js's `range()`) because the note must say which kind of block it is, and
 * ipaddr.js files the documentation ranges under "reserved"; test/enrich/specialRanges.test.ts checks every block
 * against ipaddr.js's classification as an independent implementation.
 */
const BLOCKS: ReadonlyArray<readonly [cidr: string, note: string]> = [
  ["0.0.0.0/8", "reserved range (this network)"],
  ["10.0.0.0/8", "private range"],
  ["100.64.0.0/10", "private range (carrier-grade NAT)"],
  ["127.0.0.0/8", "loopback address"],
  ["169.254.0.0/16", "link-local address"],
  ["172.16.0.0/12", "private range"],
  ["192.0.0.0/24", "reserved range (IETF protocol assignments)"],
  ["192.0.2.0/24", "documentation range"],
  ["192.88.99.0/24", "reserved range (deprecated 6to4 relay anycast)"],
  ["192.168.0.0/16", "private range"],
  ["198.18.0.0/15", "reserved range (benchmarking)"],
  ["198.51.100.0/24", "documentation range"],
  ["203.0.113.0/24", "documentation range"],
  ["224.0.0.0/4", "multicast address"],
  ["240.0.0.0/4", "reserved range"],
  ["::/128", "unspecified address"],
  ["::1/128", "loopback address"],
  // IPv4-compatible IPv6 (deprecated, RFC 4291 §2.5.5.1): no network announces it.
  ["::/96", "reserved range (IPv4-compatible IPv6)"],
  ["64:ff9b:1::/48", "private range (local-use NAT64)"],
  ["100::/64", "reserved range (discard-only)"],
  ["2001:2::/48", "reserved range (benchmarking)"],
  ["2001:10::/28", "reserved range (deprecated ORCHID)"],
  // The rest of the IETF protocol assignments block, not globally reachable "unless allowed by a more specific
  // allocation" (the registry's footnote): those are GLOBAL_IN_SPECIAL, below, looked up like any address.
  ["2001::/23", "reserved range (IETF protocol assignments)"],
  ["2001:db8::/32", "documentation range"],
  ["3fff::/20", "documentation range"],
  ["fc00::/7", "private range (unique local)"],
  ["5f00::/16", "reserved range (segment routing)"],
  ["fe80::/10", "link-local address"],
  ["fec0::/10", "private range (deprecated site-local)"],
  ["ff00::/8", "multicast address"],
];

/**
 * Allocations inside a block above that the registries mark globally reachable (or leave to the routing table:
 * Teredo): looked up, never given a note. https://www.iana.org/assignments/iana-ipv4-special-registry and
 * https://www.iana.org/assignments/iana-ipv6-special-registry
 */
export const GLOBAL_IN_SPECIAL: readonly string[] = [
  "192.0.0.9/32", // Port Control Protocol anycast (RFC 7723)
  "192.0.0.10/32", // TURN anycast (RFC 8155)
  "2001::/32", // Teredo: relays are announced by the networks that run them
  "2001:1::1/128", // Port Control Protocol anycast
  "2001:1::2/128", // TURN anycast
  "2001:1::3/128", // DNS-SD Service Registration Protocol anycast
  "2001:3::/32", // AMT
  "2001:4:112::/48", // AS112-v6
  "2001:20::/28", // ORCHIDv2
  "2001:30::/28", // Drone Remote ID Protocol Entity Tags
];
const GLOBAL_V4 = GLOBAL_IN_SPECIAL.filter((c) => !c.includes(":")).map((c) => ipaddr.IPv4.parseCIDR(c));
const GLOBAL_V6 = GLOBAL_IN_SPECIAL.filter((c) => c.includes(":")).map((c) => ipaddr.IPv6.parseCIDR(c));

const V4 = BLOCKS.filter(([c]) => !c.includes(":")).map(([c, note]) => ({
  range: ipaddr.IPv4.parseCIDR(c),
  note,
}));
const V6 = BLOCKS.filter(([c]) => c.includes(":")).map(([c, note]) => ({
  range: ipaddr.IPv6.parseCIDR(c),
  note,
}));

/** The special blocks, for tests and documentation. */
export const SPECIAL_BLOCKS = BLOCKS;

/**
 * Why an address has no country or network, or undefined for an address that may be looked up.
 * @param address IPv4 dotted or IPv6 (IPv4-mapped IPv6 must be converted to IPv4 first: it names an IPv4 peer)
 */
export function specialRangeNote(address: ipaddr.IPv4 | ipaddr.IPv6): string | undefined {
  if (address.kind() === "ipv4") {
    const v4 = address as ipaddr.IPv4;
    const note = V4.find((b) => v4.match(b.range))?.note;
    return note && GLOBAL_V4.some((range) => v4.match(range)) ? undefined : note;
  }
  const v6 = address as ipaddr.IPv6;
  const note = V6.find((b) => v6.match(b.range))?.note;
  return note && GLOBAL_V6.some((range) => v6.match(range)) ? undefined : note;
}
