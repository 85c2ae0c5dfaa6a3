import { readFileSync, writeFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { createRequire } from "node:module";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AsnTable } from "../../src/enrich/AsnTable.js";
import { tempDir } from "../support/harness.js";
import { buildGeoData } from "../../scripts/build-geo-data.js";

const require = createRequire(import.meta.url);
const dataDir = path.dirname(require.resolve("@ip-location-db/asn/package.json"));

interface Row {
  start: bigint;
  end: bigint;
  asn: number;
  org: string;
}

/** The independent reading: a CSV parser by regex and a first-match linear scan, as a person would write it. */
function naiveRows(file: string): Row[] {
  return readFileSync(file, "utf8")
    .split(/\r?\n/)
    .filter((l) => l !== "")
    .map((line) => {
      const m = /^(\d+),(\d+),(\d+),(?:"((?:[^"]|"")*)"|(.*))$/.exec(line)!;
      return {
        start: BigInt(m[1]!),
        end: BigInt(m[2]!),
        asn: Number(m[3]),
        org: m[4]?.replace(/""/g, '"') ?? m[5]!,
      };
    });
}
const naiveLookup = (rows: Row[], value: bigint) => {
  const r = rows.find((x) => x.start <= value && value <= x.end);
  return r ? { asn: r.asn, asOrg: r.org } : undefined;
};

describe("AsnTable", () => {
  it("answers as a linear scan does over generated tables (overlaps, quoted names, gaps)", () => {
    const dir = tempDir();
    const row = fc.record({
      start: fc.nat(5000),
      len: fc.nat(300),
      asn: fc.nat(400000),
      org: fc.constantFrom("Plain Org", 'Quoted, "Inc."', "Comma, Ltd", "", "Ünïcode 网络 Ltd"),
    });
    fc.assert(
      fc.property(
        fc.array(row, { maxLength: 40 }),
        fc.array(fc.nat(5400), { maxLength: 30 }),
        (raw, probes) => {
          const sorted = [...raw].sort((a, b) => a.start - b.start);
          const csv = sorted
            .map(
              (r) =>
                `${r.start},${r.start + r.len},${r.asn},${/[,"]/.test(r.org) ? `"${r.org.replace(/"/g, '""')}"` : r.org}`,
            )
            .join("\n");
          const v4 = path.join(dir, "v4.csv");
          const v6 = path.join(dir, "v6.csv");
          writeFileSync(v4, csv);
          // The same rows shifted into IPv6 space (above 2^64, so both halves matter).
          writeFileSync(
            v6,
            sorted
              .map(
                (r) =>
                  `${(1n << 100n) + BigInt(r.start)},${(1n << 100n) + BigInt(r.start + r.len)},${r.asn},X`,
              )
              .join("\n"),
          );
          const table = AsnTable.load(v4, v6);
          // The compact file of the same table, read back: it must answer alike, and write the same bytes again.
          const bytes = table.toBinary({ package: "p", version: "1" });
          const compact = AsnTable.fromBinary(bytes, "t.bin").table;
          expect(compact.toBinary({ package: "p", version: "1" }).equals(bytes)).toBe(true);
          const rows = naiveRows(v4);
          const rows6 = naiveRows(v6);
          for (const p of probes) {
            for (const t of [table, compact]) {
              expect(t.lookupV4(p)).toEqual(naiveLookup(rows, BigInt(p)));
              expect(t.lookupV6((1n << 100n) + BigInt(p))).toEqual(
                naiveLookup(rows6, (1n << 100n) + BigInt(p)),
              );
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("answers as a linear scan does over the bundled data", () => {
    const v4 = path.join(dataDir, "asn-ipv4-num.csv");
    const v6 = path.join(dataDir, "asn-ipv6-num.csv");
    const table = AsnTable.load(v4, v6);
    const rows4 = naiveRows(v4);
    const rows6 = naiveRows(v6);
    const r4 = fc.sample(fc.nat(0xffffffff), { numRuns: 80, seed: 15 });
    // Edges: each probe row's first and last address and the ones just outside.
    const edges = fc
      .sample(fc.nat(rows4.length - 1), { numRuns: 25, seed: 16 })
      .flatMap((i) => [rows4[i]!.start - 1n, rows4[i]!.start, rows4[i]!.end, rows4[i]!.end + 1n]);
    for (const v of [...r4.map(BigInt), ...edges])
      expect(table.lookupV4(Number(v)), String(v)).toEqual(naiveLookup(rows4, v));
    const edges6 = fc
      .sample(fc.nat(rows6.length - 1), { numRuns: 25, seed: 17 })
      .flatMap((i) => [rows6[i]!.start - 1n, rows6[i]!.start, rows6[i]!.end, rows6[i]!.end + 1n]);
    const r6 = fc.sample(fc.bigInt(0x2000n << 112n, (0x3000n << 112n) - 1n), { numRuns: 50, seed: 18 });
    for (const v of [...edges6, ...r6]) expect(table.lookupV6(v), String(v)).toEqual(naiveLookup(rows6, v));
  });

  it.each([
    { name: "fewer fields", csv: "1,2,3\n", why: /line 1 has fewer than 4 fields/ },
    { name: "not sorted", csv: "10,20,1,a\n5,6,2,b\n", why: /line 2 is not sorted/ },
    { name: "end before start", csv: "10,5,1,a\n", why: /line 1 has an invalid address range/ },
    { name: "not a number", csv: "1e3,2000,1,a\n", why: /line 1 has an invalid address range/ },
    { name: "bad ASN", csv: "1,2,x,a\n", why: /line 1 has an invalid AS number/ },
    { name: "unterminated quote", csv: '1,2,3,"abc\n', why: /line 1 has an unterminated quoted/ },
  ])("refuses a broken file ($name), naming file, line and the fix", ({ csv, why }) => {
    const dir = tempDir();
    writeFileSync(path.join(dir, "v4.csv"), csv);
    writeFileSync(path.join(dir, "v6.csv"), "");
    expect(() => AsnTable.load(path.join(dir, "v4.csv"), path.join(dir, "v6.csv"))).toThrow(why);
    expect(() => AsnTable.load(path.join(dir, "v4.csv"), path.join(dir, "v6.csv"))).toThrow(/--asn-db/);
  });

  it("the compact file npm run build writes answers as the CSVs do over the bundled data (thousands of addresses, range edges)", () => {
    const v4 = path.join(dataDir, "asn-ipv4-num.csv");
    const v6 = path.join(dataDir, "asn-ipv6-num.csv");
    const csv = AsnTable.load(v4, v6);
    const version = (
      JSON.parse(readFileSync(path.join(dataDir, "package.json"), "utf8")) as { version: string }
    ).version;
    const file = buildGeoData(tempDir());
    expect(path.basename(file)).toBe(`asn-${version}.bin`);
    const bytes = readFileSync(file);
    // Deterministic: the build's bytes are the ones the same table writes here, in another process.
    expect(bytes.equals(csv.toBinary({ package: "@ip-location-db/asn", version }))).toBe(true);
    const { table, source } = AsnTable.fromBinary(bytes, file);
    expect(source).toEqual({ package: "@ip-location-db/asn", version });
    expect(table.size).toBe(csv.size);

    const rows4 = naiveRows(v4);
    const rows6 = naiveRows(v6);
    const edges4 = fc
      .sample(fc.nat(rows4.length - 1), { numRuns: 1000, seed: 21 })
      .flatMap((i) => [rows4[i]!.start - 1n, rows4[i]!.start, rows4[i]!.end, rows4[i]!.end + 1n])
      .filter((v) => v >= 0n && v <= 0xffffffffn)
      .map(Number);
    const random4 = fc.sample(fc.nat(0xffffffff), { numRuns: 3000, seed: 22 });
    let found = 0;
    for (const v of [0, 0xffffffff, ...edges4, ...random4]) {
      const expected = csv.lookupV4(v);
      if (expected) found++;
      expect(table.lookupV4(v), String(v)).toEqual(expected);
    }
    const edges6 = fc
      .sample(fc.nat(rows6.length - 1), { numRuns: 1000, seed: 23 })
      .flatMap((i) => [rows6[i]!.start - 1n, rows6[i]!.start, rows6[i]!.end, rows6[i]!.end + 1n]);
    const random6 = fc.sample(fc.bigInt(0n, (1n << 128n) - 1n), { numRuns: 500, seed: 24 });
    const global6 = fc.sample(fc.bigInt(0x2000n << 112n, (0x3000n << 112n) - 1n), {
      numRuns: 2500,
      seed: 25,
    });
    for (const v of [0n, (1n << 128n) - 1n, ...edges6, ...random6, ...global6]) {
      const expected = csv.lookupV6(v);
      if (expected) found++;
      expect(table.lookupV6(v), String(v)).toEqual(expected);
    }
    // The sample exercises hits, not only misses (each edge row's own first and last address is a hit).
    expect(found).toBeGreaterThan(4000);
  }, 60_000);

  describe("a compact file that is not whole, not ours or not consistent is refused, naming it and the fix", () => {
    const good = AsnTable.load(
      ...(() => {
        const dir = tempDir();
        writeFileSync(path.join(dir, "v4.csv"), '1,10,64496,"A, Inc."\n20,30,64497,B\n');
        writeFileSync(path.join(dir, "v6.csv"), "100,200,64496,A\n");
        return [path.join(dir, "v4.csv"), path.join(dir, "v6.csv")] as const;
      })(),
    ).toBinary({ package: "@ip-location-db/asn", version: "1.2.3" });
    const headerEnd = (good.readUInt32LE(12) + 24 + 7) & ~7;
    /** Rewrites a body word and fixes the checksum: damage the CRC cannot see. */
    const forged = (at: number, value: number) => {
      const b = Buffer.from(good);
      b.writeUInt32LE(value, headerEnd + at);
      b.writeUInt32LE(crc32(b.subarray(headerEnd)), 16);
      return b;
    };
    it.each([
      {
        name: "not ours",
        bytes: Buffer.from("\x89PNG\r\n\x1a\n0000000000000000000000"),
        why: /is not a cts-audit compact/,
      },
      { name: "empty", bytes: Buffer.alloc(0), why: /is not a cts-audit compact/ },
      { name: "truncated", bytes: good.subarray(0, good.length - 5), why: /bytes where its header says/ },
      { name: "longer", bytes: Buffer.concat([good, Buffer.alloc(8)]), why: /bytes where its header says/ },
      {
        name: "damaged",
        bytes: (() => {
          const b = Buffer.from(good);
          b[b.length - 1]! ^= 0xff;
          return b;
        })(),
        why: /damaged \(checksum mismatch\)/,
      },
      {
        name: "other format",
        bytes: (() => {
          const b = Buffer.from(good);
          b.writeUInt32LE(2, 8);
          return b;
        })(),
        why: /has format 2/,
      },
      // v4Value[0] (after v4Start and v4End, 2 ranges each) names a record that is not there.
      {
        name: "range without record",
        bytes: forged(16, 99),
        why: /inconsistent \(a range names no record\)/,
      },
    ])("$name", ({ bytes, why }) => {
      expect(() => AsnTable.fromBinary(bytes, "/x/asn-1.2.3.bin")).toThrow(why);
      expect(() => AsnTable.fromBinary(bytes, "/x/asn-1.2.3.bin")).toThrow(
        /\/x\/asn-1\.2\.3\.bin .*npm run build/,
      );
    });

    it("the untouched file reads, unaligned too", () => {
      const shifted = Buffer.alloc(good.length + 3);
      good.copy(shifted, 3);
      for (const bytes of [good, shifted.subarray(3)]) {
        const { table } = AsnTable.fromBinary(bytes, "x");
        expect(table.lookupV4(5)).toEqual({ asn: 64496, asOrg: "A, Inc." });
        expect(table.lookupV4(15)).toBeUndefined();
        expect(table.lookupV6(150n)).toEqual({ asn: 64496, asOrg: "A" });
      }
    });
  });
});
