import { describe, expect, it } from "vitest";
import { AllowList, parseIpAddress } from "../../src/detect/AllowList.js";
import { ConfigError } from "../../src/errors.js";

const list = (...values: string[]) => AllowList.parse(values.map((value) => ({ value, origin: "--allow" })));

describe("AllowList.check", () => {
  it.each([
    // The original sample's substring trap, both ways.
    [["198.51.100.7"], "198.51.100.7", "allowed"],
    [["198.51.100.7"], "198.51.100.70", "not-allowlisted"],
    [["198.51.100.70"], "198.51.100.7", "not-allowlisted"],
    [["10.0.0.10"], "10.0.0.1", "not-allowlisted"],
    // CIDR boundaries.
    [["192.0.2.0/24"], "192.0.2.0", "allowed"],
    [["192.0.2.0/24"], "192.0.2.255", "allowed"],
    [["192.0.2.0/24"], "192.0.3.0", "not-allowlisted"],
    [["192.0.2.0/24"], "192.0.1.255", "not-allowlisted"],
    [["192.0.2.128/25"], "192.0.2.127", "not-allowlisted"],
    [["192.0.2.128/25"], "192.0.2.128", "allowed"],
    [["203.0.113.7/32"], "203.0.113.7", "allowed"],
    [["203.0.113.7/32"], "203.0.113.8", "not-allowlisted"],
    [["0.0.0.0/0"], "8.8.8.8", "allowed"],
    // IPv6, /128, /48, compressed vs expanded spellings.
    [["2001:db8::1/128"], "2001:db8::1", "allowed"],
    [["2001:db8::1/128"], "2001:db8::2", "not-allowlisted"],
    [["2001:db8:cafe::/48"], "2001:0db8:cafe:ffff:0:0:0:1", "allowed"],
    [["2001:db8:cafe::/48"], "2001:db8:caff::1", "not-allowlisted"],
    [["2001:db8::1"], "2001:DB8:0:0:0:0:0:1", "allowed"],
    // IPv4-mapped IPv6 matches IPv4 ranges, and IPv6 ranges still match it.
    [["192.0.2.0/24"], "::ffff:192.0.2.9", "allowed"],
    [["192.0.2.0/24"], "::ffff:192.0.3.9", "not-allowlisted"],
    [["::ffff:0:0/96"], "::ffff:203.0.113.1", "allowed"],
    // An IPv4 range never matches an IPv6 address that is not mapped.
    [["0.0.0.0/0"], "2001:db8::1", "not-allowlisted"],
    // A zone id is not part of an address (DESIGN "Detection"): it alerts, even inside an allowed range.
    [["fe80::/10"], "fe80::1%eth0", "invalid-source-ip"],
    // Empty and garbage are never allowed, even with a catch-all list.
    [["0.0.0.0/0", "::/0"], "", "missing-source-ip"],
    [["0.0.0.0/0", "::/0"], "   ", "missing-source-ip"],
    [["0.0.0.0/0", "::/0"], "not-an-ip", "invalid-source-ip"],
    [["0.0.0.0/0", "::/0"], "10.1", "invalid-source-ip"],
    [["0.0.0.0/0", "::/0"], "256.1.1.1", "invalid-source-ip"],
    [["0.0.0.0/0", "::/0"], "203.0.113.7, 10.0.0.1", "invalid-source-ip"],
    [[], "203.0.113.7", "not-allowlisted"],
  ])("%j vs %j -> %s", (entries, ip, want) => {
    expect(list(...entries).check(ip)).toBe(want);
  });
});

describe("AllowList.parse", () => {
  it.each([
    ["10.0.0.0/33"],
    ["2001:db8::/129"],
    ["10.1"],
    ["300.1.1.1"],
    ["example.com"],
    ["10.0.0.0/x"],
    ["/24"],
  ])("rejects %s naming the entry and its origin", (bad) => {
    try {
      AllowList.parse([{ value: bad, origin: "allow.txt:3" }]);
      expect.unreachable("should throw");
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message).toContain(`allow.txt:3: invalid allowlist entry "${bad}"`);
    }
  });

  it("reports every bad entry at once", () => {
    expect(() => list("1.2.3.4", "bad1", "bad2")).toThrow(/bad1[\s\S]*bad2/);
  });

  it("splits the sample's IP variable on commas, spaces and newlines", () => {
    const entries = AllowList.split("10.0.0.1, 10.0.0.2 10.0.0.3\n2001:db8::/32", "env IP");
    expect(entries.map((e) => e.value)).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "2001:db8::/32"]);
    expect(AllowList.parse(entries).size).toBe(4);
  });
});

const CATCH_ALL = ["0.0.0.0/0", "::/0"];

describe("AllowList.check: odd spellings of a source IP alert, even under a catch-all list", () => {
  it.each([
    // Zone ids, on IPv4 (never valid) and IPv6, empty or not.
    ["10.0.0.1%eth0", /zone id/],
    ["10.0.0.1%", /zone id/],
    ["10.0.0.1%25eth0", /zone id/],
    ["fe80::1%eth0", /zone id/],
    ["fe80::1%1", /zone id/],
    ["2001:db8::1%", /zone id/],
    ["::ffff:10.0.0.1%eth0", /zone id/],
    // Hex, octal, short and over-range IPv4 inside IPv6 forms.
    ["::ffff:0x0a.0.0.1", /embedded IPv4 .*hex/],
    ["::ffff:0xA.0.0.1", /embedded IPv4 .*hex/],
    ["::ffff:010.0.0.1", /embedded IPv4 .*leading zero/],
    ["::ffff:10.0.0.01", /embedded IPv4 .*leading zero/],
    ["::010.0.0.1", /embedded IPv4 .*leading zero/],
    ["1:2:3:4:5:6:010.0.0.1", /embedded IPv4 .*leading zero/],
    ["64:ff9b::0x0a.0.0.1", /embedded IPv4 .*hex/],
    ["::ffff:10.1", /embedded IPv4 .*2 dot-separated parts/],
    ["::ffff:10.0.0.256", /embedded IPv4 .*over 255/],
    ["::ffff:10.0.0.1.", /embedded IPv4 .*empty part/],
    ["10.0.0.1::", /IPv4 part that is not the last/],
    ["::10.0.0.1:0", /IPv4 part that is not the last/],
    // Odd IPv4 spellings.
    ["010.0.0.1", /leading zero/],
    ["10.0.0.01", /leading zero/],
    ["00.0.0.0", /leading zero/],
    ["0x0a.0.0.1", /hex part/],
    ["0xa000001", /1 dot-separated part/],
    ["167772161", /1 dot-separated part/],
    ["10.1", /2 dot-separated parts/],
    ["10.0.1", /3 dot-separated parts/],
    ["10.0.0.1.1", /5 dot-separated parts/],
    ["10.0.0.1.", /empty part/],
    [".10.0.0.1", /empty part/],
    ["10..0.1", /empty part/],
    ["10.0.0.-1", /not an ASCII decimal/],
    ["10.0.0.+1", /not an ASCII decimal/],
    ["1e1.0.0.1", /not an ASCII decimal/],
    // Whitespace around or inside (a trace's field is never padded; padding is not normalised away here).
    [" 10.0.0.1", /whitespace/],
    ["10.0.0.1 ", /whitespace/],
    ["10.0.0.1\n", /whitespace/],
    ["\t::1", /whitespace/],
    ["10.0.0.1\u00a0", /whitespace/],
    ["\ufeff10.0.0.1", /whitespace/],
    ["\u200b10.0.0.1", /not printable ASCII/],
    ["10. 0.0.1", /not printable ASCII/],
    ["2001:db8:: 1", /not printable ASCII/],
    // Ports, brackets and prefixes.
    ["10.0.0.1:443", /port/],
    ["[::1]:443", /brackets and a port/],
    ["[2001:db8::1]", /brackets/],
    ["[10.0.0.1]", /brackets/],
    ["10.0.0.1/32", /range/],
    ["::ffff:10.0.0.1/128", /range/],
    // IPv6 with too many or too few groups, or stray colons.
    ["1:2:3:4:5:6:7:8:9", /9 groups/],
    ["1:2:3:4:5:6:7", /7 groups/],
    ["1::2:3:4:5:6:7:8", /no group for the ::/],
    ["1:2:3:4:5:6:7:8::", /no group for the ::/],
    ["::1:2:3:4:5:6:7:8", /no group for the ::/],
    ["1:2:3:4:5:6:7:10.0.0.1", /9 groups/],
    ["::1:2:3:4:5:6:10.0.0.1", /no group for the ::/],
    ["1::2::3", /more than one ::/],
    [":::", /empty group/],
    ["1:::2", /empty group/],
    [":1::", /empty group/],
    ["::1:", /empty group/],
    ["12345::", /more than 4 hex digits/],
    ["00000::1", /more than 4 hex digits/],
    ["g::1", /not ASCII hex/],
    ["::0x1", /not ASCII hex/],
    // Unicode digits, full-width characters and NULs.
    ["\u0661\u0660.0.0.1", /not printable ASCII/],
    ["\uff11\uff10.0.0.1", /not printable ASCII/],
    ["::ffff:\u0661\u0660.0.0.1", /not printable ASCII/],
    ["10.0.0.1\u0000", /not printable ASCII/],
    ["\u000010.0.0.1", /not printable ASCII/],
    ["10.0.0.1\u0000evil", /not printable ASCII/],
    ["::1\u0000", /not printable ASCII/],
    // Lengths no address has.
    [`${"0".repeat(70)}::1`, /longer than 64/],
    ["not-an-ip", /not ASCII hex|dot-separated/],
  ])("%j is invalid-source-ip (%s)", (ip, problem) => {
    const assessed = list(...CATCH_ALL).assess(ip);
    expect(assessed.verdict).toBe("invalid-source-ip");
    expect(assessed.problem).toMatch(problem);
    expect(list(...CATCH_ALL).check(ip)).toBe("invalid-source-ip");
  });
});

describe("AllowList.check: one address, one verdict, however it is spelt", () => {
  it.each([
    // A mapped allowlist entry allows the IPv4 source, and the reverse, hex-spelt mapped included.
    [["::ffff:203.0.113.7"], "203.0.113.7", "allowed"],
    [["::ffff:cb00:7107"], "203.0.113.7", "allowed"],
    [["::FFFF:203.0.113.7"], "203.0.113.7", "allowed"],
    [["0:0:0:0:0:ffff:203.0.113.7/128"], "203.0.113.7", "allowed"],
    [["::ffff:203.0.113.7"], "203.0.113.8", "not-allowlisted"],
    [["203.0.113.7"], "::ffff:cb00:7107", "allowed"],
    [["203.0.113.7"], "0:0:0:0:0:FFFF:203.0.113.7", "allowed"],
    // Mapped CIDRs against IPv4 sources, and IPv4 CIDRs against mapped sources.
    [["::ffff:203.0.113.0/120"], "203.0.113.9", "allowed"],
    [["::ffff:203.0.113.0/120"], "203.0.114.1", "not-allowlisted"],
    [["::ffff:10.0.0.0/104"], "10.200.3.4", "allowed"],
    [["::FFFF:10.0.0.0/104"], "11.0.0.1", "not-allowlisted"],
    [["::ffff:0:0/96"], "8.8.8.8", "allowed"],
    [["203.0.113.0/24"], "::ffff:203.0.113.200", "allowed"],
    [["203.0.113.0/24"], "::ffff:cb00:7201", "not-allowlisted"],
    // An IPv6 range that contains all of ::ffff:0:0/96 contains IPv4 (it warns, see below).
    [["::/0"], "8.8.8.8", "allowed"],
    [["::/80"], "203.0.113.7", "allowed"],
    [["::/96"], "203.0.113.7", "not-allowlisted"],
    [["2001:db8::/32"], "203.0.113.7", "not-allowlisted"],
    // IPv4-compatible (deprecated), SIIT, NAT64 and 6to4 forms are IPv6 addresses, not the IPv4 peer.
    [["10.0.0.0/8"], "::10.0.0.1", "not-allowlisted"],
    [["10.0.0.0/8"], "::a00:1", "not-allowlisted"],
    [["10.0.0.0/8"], "0:0:0:0:0:0:10.0.0.1", "not-allowlisted"],
    [["10.0.0.0/8"], "::ffff:0:10.0.0.1", "not-allowlisted"],
    [["10.0.0.0/8"], "64:ff9b::10.0.0.1", "not-allowlisted"],
    [["10.0.0.0/8"], "2002:a00:1::1", "not-allowlisted"],
    [["0.0.0.0/0"], "::", "not-allowlisted"],
    [["0.0.0.0/0"], "::ffff:0.0.0.0", "allowed"],
    [["::/96"], "::10.0.0.1", "allowed"],
    [["64:ff9b::/96"], "64:ff9b::10.0.0.1", "allowed"],
    [["2002::/16"], "2002:a00:1::1", "allowed"],
    // Hex digits in either case, zero-padded groups, every compression.
    [["2001:DB8::/32"], "2001:db8::1", "allowed"],
    [["2001:db8::abcd"], "2001:DB8::ABCD", "allowed"],
    [["2001:db8::abcd"], "2001:0db8:0000:0000:0000:0000:0000:abcd", "allowed"],
    [["2001:db8:0:0:1::"], "2001:db8::1:0:0:0", "allowed"],
    [["1:2:3:4:5:6:7::"], "1:2:3:4:5:6:7:0", "allowed"],
    [["::2:3:4:5:6:7:8"], "0:2:3:4:5:6:7:8", "allowed"],
  ])("%j vs %j -> %s", (entries, ip, want) => {
    expect(list(...entries).check(ip)).toBe(want);
  });

  it("gives the canonical address with its verdict", () => {
    expect(list("10.0.0.0/8").assess("::FFFF:0A00:0001")).toEqual({
      verdict: "allowed",
      address: "::ffff:10.0.0.1",
    });
    expect(list().assess("2001:0DB8:0:0:0:0:0:1")).toEqual({
      verdict: "not-allowlisted",
      address: "2001:db8::1",
    });
    expect(list(...CATCH_ALL).assess("")).toEqual({ verdict: "missing-source-ip" });
  });
});

describe("parseIpAddress", () => {
  it.each([
    ["0.0.0.0", 4, "0.0.0.0"],
    ["255.255.255.255", 4, "255.255.255.255"],
    ["::", 6, "::"],
    ["::FFFF:10.0.0.1", 6, "::ffff:10.0.0.1"],
    ["::10.0.0.1", 6, "::a00:1"],
    ["1::10.0.0.1", 6, "1::a00:1"],
    ["0001:0DB8::", 6, "1:db8::"],
    ["2001:db8:0:0:1:0:0:1", 6, "2001:db8::1:0:0:1"],
  ])("%j is an IPv%i address written %s", (text, family, canonical) => {
    expect(parseIpAddress(text)).toMatchObject({ ok: true, address: { family, text: canonical } });
  });

  it("never echoes the text it rejects", () => {
    const result = parseIpAddress("10.0.0.1%secret-zone");
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain("secret");
  });
});

describe("AllowList.parse: entries that are not an address or CIDR are usage errors", () => {
  it.each([
    // Zone ids.
    ["fe80::1%eth0", /zone id/],
    ["fe80::%eth0/64", /zone id/],
    ["10.0.0.1%eth0", /zone id/],
    // Hex/octal/short IPv4 inside IPv6.
    ["::ffff:0x0a.0.0.1", /hex/],
    ["::ffff:010.0.0.1", /leading zero/],
    ["::ffff:10.0.0.0x1/120", /hex/],
    ["::ffff:10.1", /2 dot-separated parts/],
    ["1:2:3:4:5:6:7:10.0.0.1", /9 groups/],
    // Prefix lengths with leading zeros, signs, spaces, other digits, netmasks, or out of range.
    ["10.0.0.0/08", /prefix length/],
    ["10.0.0.0/008", /prefix length/],
    ["::/00", /prefix length/],
    ["2001:db8::/032", /prefix length/],
    ["10.0.0.0/+8", /prefix length/],
    ["10.0.0.0/-8", /prefix length/],
    ["10.0.0.0/ 8", /prefix length/],
    ["10.0.0.0/8.0", /prefix length/],
    ["10.0.0.0/\u0668", /prefix length/],
    ["10.0.0.0/255.0.0.0", /prefix length/],
    ["10.0.0.0/0.255.255.255", /prefix length/],
    ["10.0.0.0/", /prefix length/],
    ["10.0.0.0/33", /from 0 to 32/],
    ["2001:db8::/129", /from 0 to 128/],
    ["10.0.0.0/8/8", /prefix length/],
    ["10.0.0.0//8", /prefix length/],
    // A mapped address takes an IPv6 prefix: under /96 it is a slip for an IPv4 one.
    ["::ffff:10.0.0.0/8", /write ::ffff:10.0.0.0\/104 or 10.0.0.0\/8/],
    ["::ffff:0:0/0", /write ::ffff:0.0.0.0\/96 or 0.0.0.0\/0/],
    // Brackets, ports, odd IPv4, garbage.
    ["[2001:db8::]/32", /brackets/],
    ["[::1]", /brackets/],
    ["10.0.0.1:80", /port/],
    ["010.0.0.1", /leading zero/],
    ["0x0a.0.0.1", /hex/],
    ["10.0.0.1.", /empty part/],
    ["10.0.0.1\u0000", /not printable ASCII/],
    ["\u0661\u0660.0.0.1", /not printable ASCII/],
    ["1::2::3", /more than one ::/],
    ["1:2:3:4:5:6:7:8:9", /9 groups/],
    ["1::2:3:4:5:6:7:8", /no group for the ::/],
    ["/8", /empty/],
  ])("rejects %j naming the entry, its origin and why (%s)", (bad, why) => {
    let error: unknown;
    try {
      AllowList.parse([{ value: bad, origin: "allow.txt:3" }]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain(`allow.txt:3: invalid allowlist entry ${JSON.stringify(bad.trim())}`);
    expect(message).toMatch(why);
  });

  it.each([
    // Host bits set: allowed, widened to the network, and warned about with both fixes.
    [
      "10.0.0.1/8",
      "10.0.0.0/8",
      ["10.0.0.1/8 has host bits set; it allows all of 10.0.0.0/8: write 10.0.0.0/8 or 10.0.0.1/32"],
    ],
    [
      "192.0.2.200/25",
      "192.0.2.128/25",
      [
        "192.0.2.200/25 has host bits set; it allows all of 192.0.2.128/25: write 192.0.2.128/25 or 192.0.2.200/32",
      ],
    ],
    [
      "1.2.3.4/0",
      "0.0.0.0/0",
      ["1.2.3.4/0 has host bits set; it allows all of 0.0.0.0/0: write 0.0.0.0/0 or 1.2.3.4/32"],
    ],
    [
      "2001:db8::1/32",
      "2001:db8::/32",
      [
        "2001:db8::1/32 has host bits set; it allows all of 2001:db8::/32: write 2001:db8::/32 or 2001:db8::1/128",
      ],
    ],
    [
      "::ffff:10.0.0.1/104",
      "::ffff:10.0.0.0/104",
      [
        "::ffff:10.0.0.1/104 has host bits set; it allows all of ::ffff:10.0.0.0/104: write ::ffff:10.0.0.0/104 or ::ffff:10.0.0.1/128",
      ],
    ],
    // An IPv6 range that also covers IPv4.
    ["::/0", "::/0", [expect.stringMatching(/::\/0 also allows every IPv4 address/)]],
    ["::/80", "::/80", [expect.stringMatching(/::\/80 also allows every IPv4 address/)]],
    // The deprecated IPv4-compatible form matches no IPv4 source.
    [
      "::10.0.0.1",
      "::a00:1",
      [
        expect.stringMatching(
          /::10.0.0.1 is the deprecated IPv4-compatible form \(::a00:1\).*write 10.0.0.1/,
        ),
      ],
    ],
    // Clean entries: no warning.
    ["10.0.0.0/8", "10.0.0.0/8", []],
    ["10.0.0.1/32", "10.0.0.1/32", []],
    ["10.0.0.1", "10.0.0.1", []],
    ["0.0.0.0/0", "0.0.0.0/0", []],
    ["2001:db8::/32", "2001:db8::/32", []],
    ["::ffff:0:0/96", "::ffff:0.0.0.0/96", []],
    ["::/96", "::/96", []],
    ["64:ff9b::10.0.0.1", "64:ff9b::a00:1", []],
  ])("%s is allowed as %s with warnings %j", (entry, effective, warnings) => {
    const allow = AllowList.parse([{ value: entry, origin: "allow.txt:7" }]);
    expect(allow.entries).toEqual([effective]);
    expect(allow.warnings).toEqual(warnings.map((w) => (typeof w === "string" ? `allow.txt:7: ${w}` : w)));
  });

  it("lets a host-bits entry allow its whole network, as the warning says", () => {
    const allow = list("10.0.0.1/8");
    expect(allow.check("10.200.0.1")).toBe("allowed");
    expect(allow.check("11.0.0.1")).toBe("not-allowlisted");
  });

  it("trims entries and skips blank ones (lines of files, env variables)", () => {
    const allow = list(" 10.0.0.1\r", "", "  ", "\t2001:db8::/32 ");
    expect(allow.entries).toEqual(["10.0.0.1", "2001:db8::/32"]);
    expect(allow.warnings).toEqual([]);
  });
});
