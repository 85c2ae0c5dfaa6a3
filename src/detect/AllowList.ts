import ipaddr from "ipaddr.js";
import { ConfigError } from "../errors.js";

/** One allowlist entry as written, with where it came from (for error messages). */
export interface AllowEntry {
  value: string;
  /** e.g. `--allow`, `env IP`, `allowlist.txt:3`. */
  origin: string;
}

/** How a source IP stands against the allowlist. */
export type IpVerdict = "allowed" | "not-allowlisted" | "missing-source-ip" | "invalid-source-ip";

/** A strictly parsed address. */
export interface IpAddress {
  /** 4 when written as dotted-decimal IPv4, 6 when written as IPv6 (mapped ones included). */
  readonly family: 4 | 6;
  /**
   * The address in one 128-bit space where IPv4 `a.b.c.d` is `::ffff:a.b.c.d` (RFC 4291 §2.5.5.2), so that a peer
   * has one value whichever way it is written.
   */
  readonly value: ipaddr.IPv6;
  /** Canonical text: dotted IPv4, `::ffff:a.b.c.d` for mapped IPv6, RFC 5952 for the rest. */
  readonly text: string;
}

/** The result of {@link parseIpAddress}: the address, or why the text is not one (never echoing the text). */
export type ParsedIp = { ok: true; address: IpAddress } | { ok: false; problem: string };

/** The verdict on a `source_ip`, with the canonical address or why it is not one. */
export interface IpAssessment {
  verdict: IpVerdict;
  /** Canonical address, when the text is one. */
  address?: string;
  /** Why the text is not an address, for `invalid-source-ip`. */
  problem?: string;
}

// The longest IPv6 text is 45 characters (ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255); anything much longer is
// not an address, and the limit keeps a hostile `source_ip` from costing more than a few string operations.
const MAX_TEXT = 64;
const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0xffff];
const MAPPED_BLOCK = new ipaddr.IPv6([...MAPPED_PREFIX, 0, 0]);
const COMPATIBLE_BLOCK = new ipaddr.IPv6([0, 0, 0, 0, 0, 0, 0, 0]);

const bad = (problem: string): ParsedIp => ({ ok: false, problem });

/**
 * Dotted-decimal IPv4: exactly four parts, each 0-255 in ASCII decimal without leading zeros. Hand-written because
 * ipaddr.js accepts hex and octal-looking parts inside IPv6 (`::ffff:0x0a.0.0.1`), and leading zeros are read as
 * octal by inet_aton but as decimal by others: the same text would name two peers.
 */
function parseV4(text: string): number[] | string {
  const parts = text.split(".");
  if (parts.includes("")) return "has an empty part (a stray or trailing dot)";
  if (parts.length !== 4) return `has ${parts.length} dot-separated parts, not 4`;
  const octets: number[] = [];
  for (const part of parts) {
    if (/^0[xX]/.test(part)) return "has a hex part (0x...): write each part in decimal";
    if (!/^[0-9]+$/.test(part)) return "has a part that is not an ASCII decimal number";
    if (part.length > 1 && part.startsWith("0"))
      return "has a part with a leading zero (octal to some parsers): write e.g. 10, not 010";
    const n = Number(part);
    if (n > 255) return "has a part over 255";
    octets.push(n);
  }
  return octets;
}

/**
 * The two 16-bit groups of `text` when it is a dotted quad as the strict parser writes one (four decimal parts of
 * 0-255, no leading zeros, nothing else), else undefined (and the full parser decides). Most recorded addresses
 * are such IPv4 text, and each login's address is parsed (the allowlist, the enrichment): one pass over the
 * characters replaces the full parser's eight regular expressions and splits. test/detect/AllowList.fastPath.test.ts
 * checks it against the full parser.
 */
function canonicalQuad(text: string): [number, number] | undefined {
  const length = text.length;
  if (length < 7 || length > 15) return undefined;
  // The octets before the last, packed (a * 65536 + b * 256 + c); the last is `value` at the end.
  let packed = 0;
  let value = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      packed = packed * 256 + value;
      dots++;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // A leading zero is an odd spelling (octal to some parsers): the full parser says so.
      if (digits === 1 && value === 0) return undefined;
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else return undefined;
  }
  if (dots !== 3 || digits === 0) return undefined;
  return [packed >> 8, ((packed & 0xff) << 8) | value];
}

/** Four octets as the two 16-bit groups they occupy in IPv6. */
function v4Groups(octets: number[]): number[] {
  return [(octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!];
}

/**
 * IPv6 text per RFC 4291 §2.2: eight groups of 1-4 hex digits, at most one `::` standing for one or more zero
 * groups, and optionally a dotted IPv4 as the last 32 bits. Hand-written because ipaddr.js reads the deprecated
 * IPv4-compatible `::a.b.c.d` as the mapped `::ffff:a.b.c.d` (so `::10.0.0.1` matched 10.0.0.0/8) and accepts
 * hex/octal IPv4 parts; ipaddr.js still does the matching and formatting.
 */
function parseV6(text: string): number[] | string {
  const halves = text.split("::");
  if (halves.length > 2) return "has more than one ::";
  const groupsOf = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const last = halves.length === 2 ? tail : head;
  let v4: number[] | undefined;
  if (last.length > 0 && last[last.length - 1]!.includes(".")) {
    const octets = parseV4(last.pop()!);
    if (typeof octets === "string") return `has an embedded IPv4 address that ${octets}`;
    v4 = octets;
  }
  const parts: number[][] = [[], []];
  for (const [i, groups] of [head, tail].entries()) {
    for (const group of groups) {
      if (group === "") return "has an empty group (a single : at an end, or :::)";
      if (group.includes(".")) return "has an IPv4 part that is not the last 32 bits";
      if (!/^[0-9A-Fa-f]+$/.test(group)) return "has a group that is not ASCII hex";
      if (group.length > 4) return "has a group of more than 4 hex digits";
      parts[i]!.push(parseInt(group, 16));
    }
  }
  if (v4) parts[halves.length - 1]!.push(...v4Groups(v4));
  const count = parts[0]!.length + parts[1]!.length;
  if (halves.length === 1) {
    return count === 8 ? parts[0]! : `has ${count} groups, not 8`;
  }
  // `::` stands for at least one zero group (RFC 4291), so with it at most seven are written.
  if (count > 7) return `has ${count} groups and a ::, which leaves no group for the :: to stand for`;
  return [...parts[0]!, ...new Array<number>(8 - count).fill(0), ...parts[1]!];
}

/** The last 32 bits, dotted (ipaddr.js converts only mapped addresses). */
function low32(value: ipaddr.IPv6): string {
  const [a, b] = [value.parts[6]!, value.parts[7]!];
  return `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
}

function isMapped(value: ipaddr.IPv6): boolean {
  return value.match(MAPPED_BLOCK, 96);
}

/** The canonical text of a value, in the family it was written in. */
function format(value: ipaddr.IPv6, family: 4 | 6): string {
  if (family === 4) return low32(value);
  if (isMapped(value)) return `::ffff:${low32(value)}`;
  return value.toRFC5952String();
}

/**
 * Parses one address strictly (DESIGN "Detection"): dotted-decimal IPv4 without leading zeros, or RFC 4291
 * IPv6 text. Zone ids, ports, brackets, CIDR suffixes, whitespace, non-ASCII characters, hex/octal/short IPv4
 * and every other odd spelling are not addresses: the problem says which.
 */
export function parseIpAddress(text: string): ParsedIp {
  const quad = canonicalQuad(text);
  if (quad !== undefined) {
    // The canonical dotted quad is its own canonical text.
    return { ok: true, address: { family: 4, value: new ipaddr.IPv6([...MAPPED_PREFIX, ...quad]), text } };
  }
  return parseIpAddressFully(text);
}

/**
 * {@link parseIpAddress} without its one-pass read of a canonical dotted quad: every check, for any text. The fast
 * path must give exactly what this gives (its property test compares them over any text).
 */
export function parseIpAddressFully(text: string): ParsedIp {
  if (text === "") return bad("is empty");
  if (text.length > MAX_TEXT) return bad(`is longer than ${MAX_TEXT} characters`);
  if (/^\s|\s$/.test(text)) return bad("has leading or trailing whitespace");
  // Printable ASCII only: rules out NULs, inner spaces and look-alike digits (`١`, full-width) in one place.
  if (/[^\x21-\x7e]/.test(text)) return bad("has a character that is not printable ASCII");
  if (text.includes("%")) return bad("has a zone id (%...), which names a local interface, not a peer");
  if (text.startsWith("[")) {
    return bad(/\]:[0-9]+$/.test(text) ? "has brackets and a port" : "has brackets");
  }
  if (text.includes("/")) return bad("is a range (/prefix), not an address");
  if (/^[0-9]+(\.[0-9]+){3}:[0-9]+$/.test(text)) return bad("has a port");
  const v6 = text.includes(":");
  const parsed = v6 ? parseV6(text) : parseV4(text);
  if (typeof parsed === "string") return bad(parsed);
  const value = new ipaddr.IPv6(v6 ? parsed : [...MAPPED_PREFIX, ...v4Groups(parsed)]);
  const family = v6 ? 6 : 4;
  return { ok: true, address: { family, value, text: format(value, family) } };
}

/** The network of `value/bits`: the value with its host bits cleared. */
function networkOf(value: ipaddr.IPv6, bits: number): ipaddr.IPv6 {
  const mask = ipaddr.IPv6.subnetMaskFromPrefixLength(bits).parts;
  return new ipaddr.IPv6(value.parts.map((p, i) => p & mask[i]!));
}

const EXAMPLES = "use an IPv4 or IPv6 address or CIDR, e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/32";

/**
 * IP allowlist of single addresses and CIDR ranges, IPv4 and IPv6. Matching is by parsed address and prefix,
 * never by text: `198.51.100.7` does not allow `198.51.100.70` (the original sample's substring bug). Everything is
 * compared in one 128-bit space where IPv4 `a.b.c.d` is `::ffff:a.b.c.d`, so a peer gets one verdict however it
 * is spelt: `::ffff:203.0.113.7` in the list allows `203.0.113.7` and the reverse, and an IPv6 range containing
 * `::ffff:0:0/96` (such as `::/0`) also allows all of IPv4 (with a warning). 6to4 (`2002::/16`), NAT64
 * (`64:ff9b::/96`) and the deprecated IPv4-compatible `::a.b.c.d` are plain IPv6: they are a relay's or a
 * translator's address, not the IPv4 peer's, so they match only IPv6 ranges.
 */
export class AllowList {
  private readonly ranges: ReadonlyArray<readonly [ipaddr.IPv6, number]>;
  /** The effective ranges, canonical (host bits cleared), for the report and the rules' identity. */
  readonly entries: readonly string[];
  /**
   * Entries that are valid but probably not what was meant (host bits set; an IPv6 range that also covers all of
   * IPv4), each naming the entry, its origin and the fix. The command line prints them on stderr as warnings.
   */
  readonly warnings: readonly string[];

  private constructor(ranges: Array<[ipaddr.IPv6, number]>, entries: string[], warnings: string[]) {
    this.ranges = ranges;
    this.entries = entries;
    this.warnings = warnings;
  }

  /**
   * Builds an allowlist. Entries are trimmed and blank ones skipped; every invalid entry is reported at once in
   * one ConfigError naming the entry, its origin and why (a usage error, exit 2).
   */
  static parse(entries: readonly AllowEntry[]): AllowList {
    const problems: string[] = [];
    const warnings: string[] = [];
    const ranges: Array<[ipaddr.IPv6, number]> = [];
    const names: string[] = [];
    for (const { value, origin } of entries) {
      const text = value.trim();
      if (text === "") continue;
      const invalid = (why: string) =>
        problems.push(`${origin}: invalid allowlist entry ${JSON.stringify(text)}: ${why}; ${EXAMPLES}`);
      const slash = text.indexOf("/");
      const parsed = parseIpAddress(slash >= 0 ? text.slice(0, slash) : text);
      if (!parsed.ok) {
        invalid(`the address ${parsed.problem}`);
        continue;
      }
      const { family, value: addr } = parsed.address;
      const max = family === 4 ? 32 : 128;
      let bits = max;
      if (slash >= 0) {
        const bitsText = text.slice(slash + 1);
        // Decimal without sign or leading zero: `/08` and `/+8` are odd spellings, and `/255.0.0.0` netmasks
        // are not taken either (one way to write a prefix keeps the list reviewable).
        if (!/^(0|[1-9][0-9]{0,2})$/.test(bitsText) || Number(bitsText) > max) {
          invalid(`the prefix length must be a whole number from 0 to ${max}, written without leading zeros`);
          continue;
        }
        bits = Number(bitsText);
        if (family === 6 && isMapped(addr) && bits < 96) {
          // `::ffff:10.0.0.0/8` is ::/8 (most of IPv6 and all of IPv4): always a slip for an IPv4 prefix.
          const v4 = low32(addr);
          invalid(
            `an IPv4-mapped address takes an IPv6 prefix of 96 or more (96 + the IPv4 prefix): write ::ffff:${v4}/${Math.min(128, 96 + bits)} or ${v4}/${bits}`,
          );
          continue;
        }
      }
      const bits128 = family === 4 ? 96 + bits : bits;
      const network = networkOf(addr, bits128);
      const net = `${format(network, family)}/${bits}`;
      if (network.toNormalizedString() !== addr.toNormalizedString()) {
        warnings.push(
          `${origin}: ${text} has host bits set; it allows all of ${net}: write ${net} or ${format(addr, family)}/${max}`,
        );
      }
      if (bits128 < 96 && MAPPED_BLOCK.match(network, bits128)) {
        warnings.push(
          `${origin}: ${text} also allows every IPv4 address (IPv4 a.b.c.d is matched as ::ffff:a.b.c.d): ` +
            `list only the IPv6 ranges you mean, e.g. 2000::/3, if that is not intended`,
        );
      }
      if (family === 6 && text.includes(".") && addr.match(COMPATIBLE_BLOCK, 96)) {
        const v4 = low32(addr);
        warnings.push(
          `${origin}: ${text} is the deprecated IPv4-compatible form (${addr.toRFC5952String()}), which no IPv4 ` +
            `source matches: write ${v4} (or ::ffff:${v4}) for the IPv4 address`,
        );
      }
      ranges.push([network, bits128]);
      names.push(slash >= 0 ? net : format(addr, family));
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return new AllowList(ranges, names, warnings);
  }

  /** Splits a list written with commas, spaces or newlines (the sample's `IP` variable uses either). */
  static split(text: string, origin: string): AllowEntry[] {
    return text
      .split(/[\s,;]+/)
      .filter((v) => v !== "")
      .map((value) => ({ value, origin }));
  }

  get size(): number {
    return this.ranges.length;
  }

  /**
   * The verdict on a trace's `source_ip`, with the canonical address or why it is not one. Blank is
   * `missing-source-ip`; anything {@link parseIpAddress} rejects is `invalid-source-ip`: neither is ever allowed,
   * even by a catch-all list.
   */
  assess(sourceIp: string): IpAssessment {
    if (sourceIp.trim() === "") return { verdict: "missing-source-ip" };
    const parsed = parseIpAddress(sourceIp);
    if (!parsed.ok) return { verdict: "invalid-source-ip", problem: `source IP ${parsed.problem}` };
    const { value, text } = parsed.address;
    const allowed = this.ranges.some(([range, bits]) => value.match(range, bits));
    return { verdict: allowed ? "allowed" : "not-allowlisted", address: text };
  }

  /** The verdict for a trace's `source_ip`: {@link assess} without the detail. */
  check(sourceIp: string): IpVerdict {
    return this.assess(sourceIp).verdict;
  }
}
