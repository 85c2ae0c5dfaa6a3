import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
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
    // Zone index is ignored.
    [["fe80::/10"], "fe80::1%eth0", "allowed"],
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
