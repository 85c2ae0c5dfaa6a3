import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import fc from "fast-check";
import { Reader } from "mmdb-lib";
import { describe, expect, it } from "vitest";
import { AsnTable } from "../../src/enrich/AsnTable.js";
import { findCompactAsn, GeoLookup } from "../../src/enrich/GeoLookup.js";
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

describe("GeoLookup: the country reader's cache of decoded records", () => {
  it("answers as a reader without one, over more addresses than either cache holds (differential)", () => {
    // The independent reading: mmdb-lib's Reader with no cache, each record decoded anew. 30,000 addresses cross the
    // lookup's cache and the decoder's (10,000 entries each) three times, clears included.
    const plain = new Reader<Record<string, unknown>>(readFileSync(bundledCountryMmdb));
    const lookup = GeoLookup.open();
    const rng = fc.sample(fc.ipV4(), { numRuns: 30_000, seed: 18 });
    let countries = 0;
    for (const ip of [...rng, ...rng.slice(0, 2_000)]) {
      const record = plain.get(ip) as { country_code?: string } | null;
      const expected = record?.country_code?.toUpperCase() ?? "";
      const got = lookup.lookup(ip);
      // Special ranges (private, documentation, ...) are named before any data is read.
      if (got.note && !got.note.includes("data")) continue;
      expect(got.country).toBe(expected);
      if (expected) countries++;
    }
    expect(countries).toBeGreaterThan(20_000);
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

describe("GeoLookup: the compact ASN table", () => {
  /** A tiny compact table whose one range answers `asn` for 1.0.0.0/24, built from `version`. */
  function compact(dir: string, version: string, asn: number, name = `asn-${version}.bin`): string {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "v4.csv"), `16777216,16777471,${asn},Org ${asn}\n`);
    writeFileSync(path.join(dir, "v6.csv"), "");
    const file = path.join(dir, name);
    writeFileSync(
      file,
      AsnTable.load(path.join(dir, "v4.csv"), path.join(dir, "v6.csv")).toBinary({
        package: "@ip-location-db/asn",
        version,
      }),
    );
    return file;
  }

  it.each([
    {
      name: "the installed version's file, in the first folder that has it",
      files: [
        ["a", "2.0.0", 1],
        ["b", "1.0.0", 2],
        ["c", "1.0.0", 3],
      ] as const,
      version: "1.0.0",
      asn: 2,
      problems: [],
    },
    {
      name: "no file of the installed version: none (the CSVs are parsed)",
      files: [["a", "2.0.0", 1]] as const,
      version: "1.0.0",
      asn: undefined,
      problems: [],
    },
    {
      name: "no version known (the function): the newest, numerically",
      files: [
        ["a", "1.9.0", 1],
        ["a", "1.10.0", 2],
      ] as const,
      version: undefined,
      asn: 2,
      problems: [],
    },
  ])("finds $name", ({ files, version, asn, problems }) => {
    const root = tempDir();
    for (const [dir, v, n] of files) compact(path.join(root, dir), v, n);
    const seen: string[] = [];
    const found = findCompactAsn(
      ["a", "b", "c"].map((d) => path.join(root, d)),
      version,
      seen,
    );
    expect(found?.table.lookupV4(16777216 + 5)?.asn).toBe(asn);
    expect(seen).toEqual(problems);
  });

  it("refuses a file whose header names another version (renamed or stale) and a damaged one, saying so", () => {
    const root = tempDir();
    // Built from 0.9.0 but named as 1.0.0: the header, not the name, decides.
    compact(path.join(root, "a"), "0.9.0", 1, "asn-1.0.0.bin");
    const damaged = compact(path.join(root, "b"), "1.0.0", 2);
    writeFileSync(damaged, "CTSASN\u0000\u0001 not the rest");
    compact(path.join(root, "c"), "1.0.0", 3);
    const problems: string[] = [];
    const found = findCompactAsn(
      ["a", "b", "c"].map((d) => path.join(root, d)),
      "1.0.0",
      problems,
    );
    expect(found?.table.lookupV4(16777216)?.asn).toBe(3);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(
      /built from @ip-location-db\/asn@0\.9\.0, not @ip-location-db\/asn@1\.0\.0: refused \(run npm run build/,
    );
    expect(problems[1]).toContain(damaged);
    expect(problems[1]).toMatch(/npm run build/);
  });

  it("--asn-db takes a compact file (as the function's data zip holds it) and names it and its source version", () => {
    const file = compact(path.join(tempDir(), "d"), "7.7.7", 64500);
    const own = GeoLookup.open({ asnDb: file });
    expect(own.lookup("1.0.0.9")).toMatchObject({ asn: 64500, asOrg: "Org 64500" });
    expect(own.data[1]).toMatchObject({ kind: "asn", source: file, version: "7.7.7", licence: "CC-BY-4.0" });
    expect(own.data[1]!.attribution).toContain("@ip-location-db/asn@7.7.7");
  });

  it("--asn-db with a damaged compact file is a usage error naming the option and the fix", () => {
    const file = compact(path.join(tempDir(), "d"), "7.7.7", 64500);
    writeFileSync(file, "CTSASN\u0000\u0001 cut short");
    expect(() => GeoLookup.open({ asnDb: file })).toThrow(ConfigError);
    expect(() => GeoLookup.open({ asnDb: file })).toThrow(
      new RegExp(`--asn-db ${file}: .*(truncated|npm run build)`),
    );
  });
});
