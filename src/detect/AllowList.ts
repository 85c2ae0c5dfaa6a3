import ipaddr from "ipaddr.js";
import { ConfigError } from "../errors.js";

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** One allowlist entry as written, with where it came from (for error messages). */
export interface AllowEntry {
  value: string;
  /** e.g. `--allow`, `env IP`, `allowlist.txt:3`. */
  origin: string;
}

/** How a source IP stands against the allowlist. */
export type IpVerdict = "allowed" | "not-allowlisted" | "missing-source-ip" | "invalid-source-ip";

/**
 * Parses an address strictly. IPv4 must be four decimal parts: `ipaddr.parse` alone also accepts `10.1` or
 * `0x0a.0.0.1`, which a person writing an allowlist never means and a trace never carries.
 */
function parseAddress(text: string): Address | undefined {
  if (text.includes(":")) {
    return ipaddr.IPv6.isValid(text) ? ipaddr.IPv6.parse(text) : undefined;
  }
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
}

/** Both forms of an IPv4-mapped IPv6 address, so that `::ffff:a.b.c.d` matches IPv4 ranges and IPv6 ones. */
function forms(addr: Address): Address[] {
  if (addr.kind() === "ipv6" && (addr as ipaddr.IPv6).isIPv4MappedAddress()) {
    return [addr, (addr as ipaddr.IPv6).toIPv4Address()];
  }
  return [addr];
}

/**
 * IP allowlist of single addresses and CIDR ranges, IPv4 and IPv6. Matching is by parsed address and prefix,
 * never by text: `198.51.100.7` does not allow `198.51.100.70` (the original sample's substring bug).
 */
export class AllowList {
  private readonly ranges: Array<[Address, number]>;
  /** The entries as given, normalised, for the report. */
  readonly entries: readonly string[];

  private constructor(ranges: Array<[Address, number]>, entries: string[]) {
    this.ranges = ranges;
    this.entries = entries;
  }

  /** Builds an allowlist; every invalid entry is reported at once in one ConfigError naming the entry. */
  static parse(entries: readonly AllowEntry[]): AllowList {
    const problems: string[] = [];
    const ranges: Array<[Address, number]> = [];
    const names: string[] = [];
    for (const { value, origin } of entries) {
      const text = value.trim();
      if (text === "") continue;
      const slash = text.indexOf("/");
      const addrText = slash >= 0 ? text.slice(0, slash) : text;
      const addr = parseAddress(addrText);
      const max = addr?.kind() === "ipv6" ? 128 : 32;
      const bitsText = slash >= 0 ? text.slice(slash + 1) : String(max);
      const bits = /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
      if (!addr || !(bits >= 0 && bits <= max)) {
        problems.push(
          `${origin}: invalid allowlist entry "${text}": use an IPv4 or IPv6 address or CIDR, e.g. 203.0.113.7, 203.0.113.0/24, 2001:db8::/32`,
        );
        continue;
      }
      ranges.push([addr, bits]);
      names.push(slash >= 0 ? `${addr.toString()}/${bits}` : addr.toString());
    }
    if (problems.length > 0) throw new ConfigError(problems);
    return new AllowList(ranges, names);
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

  /** The verdict for a trace's `source_ip`. Empty and unparsable addresses are never allowed. */
  check(sourceIp: string): IpVerdict {
    const text = sourceIp.trim();
    if (text === "") return "missing-source-ip";
    // A zone index (fe80::1%eth0) says nothing about who the peer is; match on the address.
    const addr = parseAddress(text.replace(/%[^%]*$/, ""));
    if (!addr) return "invalid-source-ip";
    for (const candidate of forms(addr)) {
      for (const [range, bits] of this.ranges) {
        if (candidate.kind() === range.kind() && candidate.match(range, bits)) return "allowed";
      }
    }
    return "not-allowlisted";
  }
}
