import { readFileSync } from "node:fs";
import { crc32 } from "node:zlib";
import { CtsAuditError, describeError } from "../errors.js";

const DIGITS = /^[0-9]+$/;
const DECODER = new TextDecoder();

/** An autonomous system: its number and its organisation's name. */
export interface AsnRecord {
  asn: number;
  asOrg: string;
}

/** What a compact table file says of itself: the data it was derived from, for the report and the stale check. */
export interface AsnTableSource {
  /** npm package the CSVs came from (`@ip-location-db/asn`). */
  package: string;
  version: string;
}

/*
 * The compact file's layout (format 1), little-endian, every array 8-byte aligned so that typed-array views can sit
 * on the one buffer it is read into:
 *
 *   0   8 bytes  magic `CTSASN\0\x01`
 *   8   u32      format (1)
 *   12  u32      header length H (JSON, UTF-8)
 *   16  u32      CRC-32 of the body (everything after the padded header)
 *   20  u32      0
 *   24  H bytes  header {package, version, v4, v6, records, orgBytes}, padded with spaces to a multiple of 8
 *   body: v4Start u32[v4], v4End u32[v4], v4Value u32[v4], pad to 8; v6Start u64[2·v6], v6End u64[2·v6] (high,
 *         low halves); v6Value u32[v6]; asns u32[records]; orgOffsets u32[records+1]; orgBytes u8[orgBytes]
 *
 * Hand-written, not a general serialiser (protobuf, flatbuffers, msgpack): those decode into objects or need a
 * schema compiler, and the point is no per-row object at load. The CRC (zlib's, ~6 ms for 20 MB) catches a
 * truncated or damaged file; the header's version lets the loader refuse a file built from other data.
 */
const MAGIC = Buffer.from("CTSASN\u0000\u0001", "latin1");
const FORMAT = 1;
const FIXED = 24;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const pad8 = (n: number) => (n + 7) & ~7;

interface Header extends AsnTableSource {
  v4: number;
  v6: number;
  records: number;
  orgBytes: number;
}

/** Byte offsets of the body's arrays. */
function bodyLayout(h: Header) {
  const v4Start = 0;
  const v4End = v4Start + 4 * h.v4;
  const v4Value = v4End + 4 * h.v4;
  const v6Start = pad8(v4Value + 4 * h.v4);
  const v6End = v6Start + 16 * h.v6;
  const v6Value = v6End + 16 * h.v6;
  const asns = v6Value + 4 * h.v6;
  const orgOffsets = asns + 4 * h.records;
  const orgBytes = orgOffsets + 4 * (h.records + 1);
  return {
    v4Start,
    v4End,
    v4Value,
    v6Start,
    v6End,
    v6Value,
    asns,
    orgOffsets,
    orgBytes,
    end: orgBytes + h.orgBytes,
  };
}

/**
 * The IP-to-ASN ranges of `@ip-location-db/asn` (CSV: `start,end,asn,org`, addresses as decimal numbers), held as
 * sorted typed arrays and searched by bisection.
 *
 * Hand-written because no npm package ships this data as `.mmdb` (the ip-location-db ASN data is published on npm
 * as CSV only) and an `.mmdb` writer would be a build-time dependency for a 40-line table. Two ways in: `load`
 * parses the CSVs (about 1.2 s of CPU and 160 MB of peak RSS for the bundled data: kept for a user's own directory
 * and as the fallback), `fromBinary` puts views on the compact file `npm run build` derives from them (one read, a
 * few ms, the file's bytes held and nothing else; organisation names are decoded when looked up).
 * test/enrich/AsnTable.test.ts checks both against a linear scan of the same rows (an independent implementation).
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
    /** Organisation `i` is `orgBytes[orgOffsets[i] .. orgOffsets[i+1]]`, UTF-8: no string per name held. */
    private readonly orgOffsets: Uint32Array,
    private readonly orgBytes: Uint8Array,
  ) {}

  /** Ranges held (IPv4 + IPv6), for the report and the bench. */
  get size(): number {
    return this.v4Start.length + this.v6Value.length;
  }

  /**
   * Reads the two CSV files.
   * @throws CtsAuditError code `GEO_DATA` naming the file and line when a file cannot be read or parsed
   */
  static load(ipv4Csv: string, ipv6Csv: string): AsnTable {
    const records = new Map<string, number>();
    const asns: number[] = [];
    const orgs: Buffer[] = [];
    const recordOf = (asn: number, org: string): number => {
      const key = `${asn}\u0000${org}`;
      let index = records.get(key);
      if (index === undefined) {
        index = asns.length;
        records.set(key, index);
        asns.push(asn);
        orgs.push(Buffer.from(org, "utf8"));
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
    const orgOffsets = new Uint32Array(orgs.length + 1);
    for (let i = 0; i < orgs.length; i++) orgOffsets[i + 1] = orgOffsets[i]! + orgs[i]!.length;
    return new AsnTable(
      Uint32Array.from(v4Start),
      Uint32Array.from(v4End),
      Uint32Array.from(v4Value),
      BigUint64Array.from(v6Start),
      BigUint64Array.from(v6End),
      Uint32Array.from(v6Value),
      Uint32Array.from(asns),
      orgOffsets,
      new Uint8Array(Buffer.concat(orgs)),
    );
  }

  /** Whether `bytes` start like a compact table file (to tell it from an `.mmdb` given as `--asn-db`). */
  static isBinary(bytes: Uint8Array): boolean {
    return bytes.length >= MAGIC.length && MAGIC.equals(bytes.subarray(0, MAGIC.length));
  }

  /**
   * The compact file of this table. The same table gives the same bytes: no time, no map order in it.
   * @param source the data it was derived from, written into the header
   */
  toBinary(source: AsnTableSource): Buffer {
    const header: Header = {
      package: source.package,
      version: source.version,
      v4: this.v4Start.length,
      v6: this.v6Value.length,
      records: this.asns.length,
      orgBytes: this.orgBytes.length,
    };
    const json = Buffer.from(JSON.stringify(header), "utf8");
    const headerEnd = pad8(FIXED + json.length);
    const layout = bodyLayout(header);
    const out = Buffer.alloc(headerEnd + layout.end);
    MAGIC.copy(out, 0);
    out.writeUInt32LE(FORMAT, 8);
    out.writeUInt32LE(json.length, 12);
    json.copy(out, FIXED);
    out.fill(0x20, FIXED + json.length, headerEnd);
    const body = out.subarray(headerEnd);
    // Typed arrays hold the platform's byte order; the file is little-endian (both ends refuse big-endian).
    if (!LITTLE_ENDIAN)
      throw new CtsAuditError("GEO_DATA", "the compact ASN table is built on little-endian machines");
    const put = (at: number, a: Uint32Array | BigUint64Array | Uint8Array) =>
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).copy(body, at);
    put(layout.v4Start, this.v4Start);
    put(layout.v4End, this.v4End);
    put(layout.v4Value, this.v4Value);
    put(layout.v6Start, this.v6Start);
    put(layout.v6End, this.v6End);
    put(layout.v6Value, this.v6Value);
    put(layout.asns, this.asns);
    put(layout.orgOffsets, this.orgOffsets);
    put(layout.orgBytes, this.orgBytes);
    out.writeUInt32LE(crc32(body), 16);
    return out;
  }

  /**
   * Views on a compact file's bytes: no copy when `bytes` starts 8-byte aligned, as a whole-file read into its own
   * buffer does.
   * @param file the file's name, for errors
   * @throws CtsAuditError code `GEO_DATA` naming the file and the fix when the bytes are not a whole, undamaged
   *   compact table of this format
   */
  static fromBinary(bytes: Uint8Array, file: string): { table: AsnTable; source: AsnTableSource } {
    const bad = (why: string) =>
      new CtsAuditError(
        "GEO_DATA",
        `ASN data ${file} ${why}; rebuild it (npm run build, or npm run package for the function's data zip) ` +
          "or give ip-location-db's CSV directory with --asn-db",
      );
    if (!AsnTable.isBinary(bytes)) throw bad("is not a cts-audit compact ASN table");
    if (!LITTLE_ENDIAN) throw bad("is little-endian and this machine is not");
    if (bytes.length < FIXED) throw bad("is truncated");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const format = view.getUint32(8, true);
    if (format !== FORMAT) throw bad(`has format ${format}, and this cts-audit reads format ${FORMAT}`);
    const jsonLength = view.getUint32(12, true);
    const headerEnd = pad8(FIXED + jsonLength);
    if (headerEnd > bytes.length) throw bad("is truncated");
    let header: Header;
    try {
      header = JSON.parse(
        Buffer.from(bytes.buffer, bytes.byteOffset + FIXED, jsonLength).toString("utf8"),
      ) as Header;
    } catch (err) {
      throw bad(`has an unreadable header (${describeError(err)})`);
    }
    if (typeof header.version !== "string" || typeof header.package !== "string")
      throw bad("has a header without its source");
    const counts = [header.v4, header.v6, header.records, header.orgBytes];
    if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0 && n < 2 ** 32)) throw bad("has bad counts");
    const layout = bodyLayout(header);
    if (bytes.length !== headerEnd + layout.end)
      throw bad(`is ${bytes.length} bytes where its header says ${headerEnd + layout.end} (truncated?)`);
    let body = bytes.subarray(headerEnd);
    if (crc32(body) !== view.getUint32(16, true)) throw bad("is damaged (checksum mismatch)");
    // Views need aligned offsets: bytes that do not start on 8 are copied once.
    if (body.byteOffset % 8 !== 0) body = Uint8Array.from(body);
    const ab = body.buffer;
    const o = body.byteOffset;
    const u32 = (at: number, n: number) => new Uint32Array(ab, o + at, n);
    const u64 = (at: number, n: number) => new BigUint64Array(ab, o + at, n);
    const table = new AsnTable(
      u32(layout.v4Start, header.v4),
      u32(layout.v4End, header.v4),
      u32(layout.v4Value, header.v4),
      u64(layout.v6Start, 2 * header.v6),
      u64(layout.v6End, 2 * header.v6),
      u32(layout.v6Value, header.v6),
      u32(layout.asns, header.records),
      u32(layout.orgOffsets, header.records + 1),
      new Uint8Array(ab, o + layout.orgBytes, header.orgBytes),
    );
    // The CRC says the bytes are the ones written; this says what was written can be indexed (a hand-made file
    // must not make a lookup read past an array).
    const problem = table.inconsistency();
    if (problem) throw bad(`is inconsistent (${problem})`);
    return { table, source: { package: header.package, version: header.version } };
  }

  private inconsistency(): string | undefined {
    const records = this.asns.length;
    for (const values of [this.v4Value, this.v6Value])
      for (let i = 0; i < values.length; i++) if (values[i]! >= records) return "a range names no record";
    const offsets = this.orgOffsets;
    if (offsets[0] !== 0 || offsets[records] !== this.orgBytes.length) return "organisation offsets";
    for (let i = 0; i < records; i++) if (offsets[i]! > offsets[i + 1]!) return "organisation offsets";
    return undefined;
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
    const from = this.orgOffsets[index]!;
    const to = this.orgOffsets[index + 1]!;
    return { asn: this.asns[index]!, asOrg: DECODER.decode(this.orgBytes.subarray(from, to)) };
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
