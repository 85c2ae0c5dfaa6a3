import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AsnTable } from "../../src/enrich/AsnTable.js";
import { tempDir } from "../support/harness.js";

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
      org: fc.constantFrom("Plain Org", 'Quoted, "Inc."', "Comma, Ltd", ""),
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
          const rows = naiveRows(v4);
          const rows6 = naiveRows(v6);
          for (const p of probes) {
            expect(table.lookupV4(p)).toEqual(naiveLookup(rows, BigInt(p)));
            expect(table.lookupV6((1n << 100n) + BigInt(p))).toEqual(
              naiveLookup(rows6, (1n << 100n) + BigInt(p)),
            );
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
});
