import { readFileSync } from "node:fs";
import { CtsAuditError, describeError } from "../errors.js";

const DIGITS = /^[0-9]+$/;

/** An autonomous system: its number and its organisation's name. */
export interface AsnRecord {
  asn: number;
  asOrg: string;
}

/**
 * The IP-to-ASN ranges of `@ip-location-db/asn` (CSV: `start,end,asn,org`, addresses as decimal numbers), held as
 * sorted typed arrays and searched by bisection.
 *
 * Hand-written because no npm package ships this data as `.mmdb` (the ip-location-db ASN data is published on npm
 * as CSV only) and an `.mmdb` writer would be a build-time dependency for a 40-line table. Memory is about 16 bytes
 * a range (IPv4) and 36 (IPv6) plus the distinct organisation names, a few MB in all; loading parses ~30 MB of text
 * once per process. test/enrich/AsnTable.test.ts checks it against a linear scan of the same rows (an independent
 * implementation) over random and edge addresses.
 */
export class AsnTable {
  private constructor(
    private readonly v4Start: Uint32Array,
    private readonly v4End: Uint32Array,
    private readonly v4Value: Uint32Array,
    private readonly v6Start: BigUint64Array,
    private readonly v6End: BigUint64Array,
    private readonly v6Value: Uint32Array,
    private readonly asns: Uint32Array,
    private readonly orgs: string[],
  ) {}

  /** Ranges held (IPv4 + IPv6), for the report and the bench. */
  get size(): number {
    return this.v4Start.length + this.v6Start.length / 2;
  }

  /**
   * Reads the two CSV files.
   * @throws CtsAuditError code `GEO_DATA` naming the file and line when a file cannot be read or parsed
   */
  static load(ipv4Csv: string, ipv6Csv: string): AsnTable {
    const records = new Map<string, number>();
    const asns: number[] = [];
    const orgs: string[] = [];
    const recordOf = (asn: number, org: string): number => {
      const key = `${asn}\u0000${org}`;
      let index = records.get(key);
      if (index === undefined) {
        index = asns.length;
        records.set(key, index);
        asns.push(asn);
        orgs.push(org);
      }
      return index;
    };
    const v4Start: number[] = [];
    const v4End: number[] = [];
    const v4Value: number[] = [];
    parseRows(
      ipv4Csv,
      (text) => {
        // Number("") is 0 and Number(" 1e3") is 1000: only plain digits are numbers here.
        const n = Number(text);
        return DIGITS.test(text) && n <= 0xffffffff ? n : undefined;
      },
      (n) => n + 1,
      (start, end, asn, org) => {
        v4Start.push(start);
        v4End.push(end);
        v4Value.push(recordOf(asn, org));
      },
    );
    // Each 128-bit bound as two 64-bit halves (high, low): compared as a pair, no BigInt per range kept.
    const v6Start: bigint[] = [];
    const v6End: bigint[] = [];
    const v6Value: number[] = [];
    parseRows(
      ipv6Csv,
      (text) => {
        if (!DIGITS.test(text) || text.length > 39) return undefined;
        const n = BigInt(text);
        return n < 1n << 128n ? n : undefined;
      },
      (n) => n + 1n,
      (start, end, asn, org) => {
        v6Start.push(start >> 64n, BigInt.asUintN(64, start));
        v6End.push(end >> 64n, BigInt.asUintN(64, end));
        v6Value.push(recordOf(asn, org));
      },
    );
    return new AsnTable(
      Uint32Array.from(v4Start),
      Uint32Array.from(v4End),
      Uint32Array.from(v4Value),
      BigUint64Array.from(v6Start),
      BigUint64Array.from(v6End),
      Uint32Array.from(v6Value),
      Uint32Array.from(asns),
      orgs,
    );
  }
  /** The AS of an IPv4 address given as its 32-bit value. */
  lookupV4(value: number): AsnRecord | undefined {
    const s = this.v4Start;
    // The last range starting at or before the address; it holds the address if it ends at or after it.
    let lo = 0;
    let hi = s.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid]! <= value) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0 || this.v4End[found]! < value) return undefined;
    return this.record(this.v4Value[found]!);
  }

  /** The AS of an IPv6 address given as its 128-bit value. */
  lookupV6(value: bigint): AsnRecord | undefined {
    const high = value >> 64n;
    const low = BigInt.asUintN(64, value);
    const s = this.v6Start;
    const le = (h: bigint, l: bigint) => h < high || (h === high && l <= low);
    let lo = 0;
    let hi = s.length / 2 - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (le(s[2 * mid]!, s[2 * mid + 1]!)) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const eh = this.v6End[2 * found]!;
    const el = this.v6End[2 * found + 1]!;
    if (eh < high || (eh === high && el < low)) return undefined;
    return this.record(this.v6Value[found]!);
  }

  private record(index: number): AsnRecord {
    return { asn: this.asns[index]!, asOrg: this.orgs[index]! };
  }
}

/**
 * Parses `start,end,asn,org` rows; only the organisation may be quoted (RFC 4180: `""` is a quote). Rows must be
 * sorted by start (a file that is not is refused). Bisection needs ranges that do not overlap: where one row
 * overlaps the one before (the 2026-06 data has one such row, a DoD block), the earlier row keeps the overlap and
 * the later one is cut to what follows it, which is what a first-match linear scan answers too.
 *
 * The file is read as bytes and each line decoded on its own, rows handed to `onRow` as they come: no 20 MB string
 * and no array of half a million row objects (they took ~150 MB of peak RSS).
 * @returns the number of rows handed on
 */
export function parseRows<T extends number | bigint>(
  file: string,
  num: (text: string) => T | undefined,
  succ: (value: T) => T,
  onRow: (start: T, end: T, asn: number, org: string) => void,
): number {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new CtsAuditError("GEO_DATA", `ASN data ${file} cannot be read: ${describeError(err)}`, {
      cause: err,
    });
  }
  let count = 0;
  let line = 0;
  let previousStart: T | undefined;
  let previousEnd: T | undefined;
  for (let at = 0; at < bytes.length;) {
    let eol = bytes.indexOf(0x0a, at);
    if (eol < 0) eol = bytes.length;
    const raw = bytes.toString("utf8", at, eol);
    at = eol + 1;
    line++;
    if (raw === "") continue;
    const bad = (why: string) =>
      new CtsAuditError(
        "GEO_DATA",
        `ASN data ${file} line ${line} ${why}; reinstall the package (npm ci) or pass your own file with --asn-db`,
      );
    const c1 = raw.indexOf(",");
    const c2 = raw.indexOf(",", c1 + 1);
    const c3 = raw.indexOf(",", c2 + 1);
    if (c1 < 0 || c2 < 0 || c3 < 0) throw bad("has fewer than 4 fields");
    let start = num(raw.slice(0, c1));
    const end = num(raw.slice(c1 + 1, c2));
    const asn = Number(raw.slice(c2 + 1, c3));
    let org = raw.slice(c3 + 1).replace(/\r$/, "");
    if (org.startsWith('"')) {
      if (!org.endsWith('"') || org.length < 2) throw bad("has an unterminated quoted organisation");
      org = org.slice(1, -1).replace(/""/g, '"');
    }
    if (start === undefined || end === undefined || end < start) throw bad("has an invalid address range");
    if (!DIGITS.test(raw.slice(c2 + 1, c3)) || asn > 0xffffffff) throw bad("has an invalid AS number");
    if (previousStart !== undefined && start < previousStart) throw bad("is not sorted by its first address");
    previousStart = start;
    if (previousEnd !== undefined && start <= previousEnd) {
      if (end <= previousEnd) continue;
      start = succ(previousEnd);
    }
    previousEnd = end;
    onRow(start, end, asn, org);
    count++;
  }
  return count;
}
