import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GeoLookup } from "../../src/enrich/GeoLookup.js";
import { ConfigError } from "../../src/errors.js";
import { tempDir } from "../support/harness.js";

const require = createRequire(import.meta.url);
const bundledCountryMmdb = path.join(
  path.dirname(require.resolve("@ip-location-db/geo-whois-asn-country-mmdb/package.json")),
  "geo-whois-asn-country.mmdb",
);

// One lookup for the file: the bundled ASN table takes about a second of CPU to load.
const geo = GeoLookup.open();

describe("GeoLookup: bundled data, well-known addresses", () => {
  it.each([
    // Public resolvers: Google (IPv4, IPv6, and IPv4-mapped IPv6, which is the IPv4 peer), Cloudflare, Yandex.
    { ip: "8.8.8.8", country: "US", asn: 15169, org: /Google/ },
    { ip: "2001:4860:4860::8888", country: "US", asn: 15169, org: /Google/ },
    { ip: "::ffff:8.8.8.8", country: "US", asn: 15169, org: /Google/ },
    { ip: "::FFFF:808:808", country: "US", asn: 15169, org: /Google/ },
    { ip: "1.1.1.1", asn: 13335, org: /Cloudflare/ },
    { ip: "2606:4700:4700::1111", asn: 13335, org: /Cloudflare/ },
    // Ranges of other countries: Yandex (RU, v4 and v6), China Mobile (CN), Andrews & Arnold (GB).
    { ip: "77.88.8.8", country: "RU", asn: 13238, org: /YANDEX/i },
    { ip: "2a02:6b8::feed:ff", country: "RU", asn: 13238, org: /YANDEX/i },
    { ip: "39.156.66.10", country: "CN", asn: 9808, org: /China Mobile/i },
    { ip: "81.2.69.160", country: "GB", asn: 20712, org: /Andrews/ },
  ])("$ip", ({ ip, country, asn, org }) => {
    const info = geo.lookup(ip);
    if (country) expect(info.country).toBe(country);
    else expect(info.country).toMatch(/^[A-Z]{2}$/);
    expect(info.asn).toBe(asn);
    expect(info.asOrg).toMatch(org);
    expect(info.note).toBeUndefined();
  });

  it.each([
    { ip: "10.1.2.3", note: "private range" },
    { ip: "172.16.0.1", note: "private range" },
    // The bundled country data holds a (whois) country for 192.168/16: the table wins, no guess.
    { ip: "192.168.1.1", note: "private range" },
    { ip: "100.64.0.1", note: "private range (carrier-grade NAT)" },
    { ip: "127.0.0.1", note: "loopback address" },
    { ip: "169.254.169.254", note: "link-local address" },
    { ip: "192.0.2.1", note: "documentation range" },
    { ip: "198.51.100.7", note: "documentation range" },
    { ip: "203.0.113.7", note: "documentation range" },
    { ip: "::ffff:203.0.113.7", note: "documentation range" },
    { ip: "198.18.0.1", note: "reserved range (benchmarking)" },
    { ip: "240.0.0.1", note: "reserved range" },
    { ip: "255.255.255.255", note: "reserved range" },
    { ip: "224.0.0.251", note: "multicast address" },
    { ip: "0.0.0.0", note: "reserved range (this network)" },
    { ip: "::1", note: "loopback address" },
    { ip: "::", note: "unspecified address" },
    { ip: "2001:db8::1", note: "documentation range" },
    { ip: "3fff::1", note: "documentation range" },
    { ip: "fd00::1", note: "private range (unique local)" },
    { ip: "fe80::1", note: "link-local address" },
    { ip: "ff02::1", note: "multicast address" },
    { ip: "", note: "no address" },
    { ip: "10.0.0.1:443", note: "not an address" },
    { ip: "010.1.1.1", note: "not an address" },
  ])("$ip has no country: $note", ({ ip, note }) => {
    const info = geo.lookup(ip);
    expect(info).toEqual({ country: "", asOrg: "", note });
  });

  it("names the data, its exact version and attribution", () => {
    const pkg = require("../../package.json") as { dependencies: Record<string, string> };
    const data = geo.data;
    expect(data.map((d) => d.kind)).toEqual(["country", "asn"]);
    for (const d of data) {
      const name = d.source.slice(0, d.source.lastIndexOf("@"));
      // Pinned: the dependency is the exact version the report prints.
      expect(pkg.dependencies[name]).toBe(d.version);
    }
    expect(data[1]!.licence).toBe("CC-BY-4.0");
    expect(data[1]!.attribution).toMatch(/DB-IP.*RouteViews.*NRO/);
    expect(geo.warnings).toEqual([]);
  });
});

describe("GeoLookup: the user's own databases", () => {
  it("--geo-db: a readable .mmdb replaces the bundled country data and is named in the report", () => {
    const own = GeoLookup.open({ geoDb: bundledCountryMmdb });
    expect(own.lookup("8.8.8.8").country).toBe("US");
    expect(own.data[0]).toMatchObject({ kind: "country", source: bundledCountryMmdb });
    expect(own.data[0]!.attribution).toContain(bundledCountryMmdb);
  });

  it("--asn-db: a directory with ip-location-db's ASN CSVs (how the function gets the data apart from its code)", () => {
    const dir = path.dirname(require.resolve("@ip-location-db/asn/package.json"));
    const own = GeoLookup.open({ asnDb: dir });
    expect(own.lookup("1.1.1.1")).toMatchObject({ asn: 13335 });
    expect(own.data[1]).toMatchObject({ kind: "asn", source: dir, licence: "CC-BY-4.0" });
  });

  it("--asn-db: a directory without the CSVs is a usage error naming the option", () => {
    const dir = tempDir();
    expect(() => GeoLookup.open({ asnDb: dir })).toThrow(
      new RegExp(`--asn-db ${dir}: a directory, but not one with asn-ipv4-num.csv and asn-ipv6-num.csv`),
    );
  });

  it.each([
    { option: "geoDb", flag: "--geo-db", content: "not a database\n" },
    { option: "asnDb", flag: "--asn-db", content: "" },
    { option: "geoDb", flag: "--geo-db", content: null },
  ])("$flag with a bad file is a usage error naming the option", ({ option, flag, content }) => {
    const file = path.join(tempDir(), "bad.mmdb");
    if (content !== null) writeFileSync(file, content);
    let caught: unknown;
    try {
      GeoLookup.open({ [option]: file });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const message = (caught as ConfigError).message;
    expect(message).toContain(`${flag} ${file}`);
    expect(message).toMatch(/not a readable MaxMind DB/);
    expect(message).toContain(`drop ${flag}`);
  });

  it("both bad: every problem at once", () => {
    const file = path.join(tempDir(), "bad.mmdb");
    writeFileSync(file, "x");
    expect(() => GeoLookup.open({ geoDb: file, asnDb: file })).toThrow(/--geo-db[^]*\n[^]*--asn-db/);
  });
});
