import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ipaddr from "ipaddr.js";
import { Reader } from "mmdb-lib";
import { parseIpAddress } from "../detect/AllowList.js";
import { ConfigError, describeError } from "../errors.js";
import { AsnTable } from "./AsnTable.js";
import { specialRangeNote } from "./specialRanges.js";

/** What the lookup says of one address. `country` is `""` when unknown; `note` then says why. */
export interface GeoInfo {
  /** ISO 3166-1 alpha-2, upper case; `""` when there is none (private range, not in the data, no address). */
  country: string;
  asn?: number;
  /** The AS's organisation; `""` when unknown. */
  asOrg: string;
  /** Why country or network are missing (`private range`, `documentation range`, `not in the country data`). */
  note?: string;
}

/** The data a lookup uses, printed in every report (its licence asks for attribution). */
export interface GeoDataInfo {
  kind: "country" | "asn";
  /** npm package and version, or the user's file. */
  source: string;
  version: string;
  licence: string;
  attribution: string;
}

/** The bundled data: exact versions are pinned in package.json (`npm run` reports print them). */
export const COUNTRY_PACKAGE = "@ip-location-db/geo-whois-asn-country-mmdb";
export const COUNTRY_FILE = "geo-whois-asn-country.mmdb";
export const ASN_PACKAGE = "@ip-location-db/asn";
export const ASN_FILES = ["asn-ipv4-num.csv", "asn-ipv6-num.csv"] as const;

/** The folder of the function's data zip (`npm run package`), unpacked beside index.js. */
export const FUNCTION_DATA_DIR = "cts-audit-data";

/** The compact ASN table's file name for a version of the ASN package (`npm run build` writes it to dist/data). */
export function compactAsnFileName(version: string): string {
  return `asn-${version}.bin`;
}

/** The country `.mmdb`'s name in the function's data zip: the version in the name, as the function has no package. */
export function packagedCountryFileName(version: string): string {
  return `geo-whois-asn-country-${version}.mmdb`;
}

/** Options naming the user's own databases (`--geo-db`, `--asn-db`; env `CTS_AUDIT_GEO_DB`, `CTS_AUDIT_ASN_DB`). */
export interface GeoLookupOptions {
  geoDb?: string;
  asnDb?: string;
  /** The option names to cite in errors (`--geo-db` on the command line, the env variable in the function). */
  geoOption?: string;
  asnOption?: string;
}

type CountrySource = { reader: Reader<Record<string, unknown>>; info: GeoDataInfo };
type AsnSource =
  | { kind: "mmdb"; reader: Reader<Record<string, unknown>>; info: GeoDataInfo }
  | { kind: "table"; table: AsnTable; info: GeoDataInfo };

/**
 * Resolves the data packages lazily: in the function's bundle (CommonJS, where `import.meta.url` is empty) the
 * packages are not there, and resolving must fail as "not installed" on use, not crash the module's loading.
 */
function resolvePackage(specifier: string): string {
  const from = moduleFile();
  if (!from) throw new Error(`${specifier} cannot be resolved here`);
  return createRequire(from).resolve(specifier);
}

function moduleFile(): string | undefined {
  const url = import.meta.url;
  if (url) return fileURLToPath(url);
  return typeof __filename === "string" ? __filename : undefined;
}

/**
 * Where the compact data is looked for, relative to this module's file: `dist/data/` beside the built chunks
 * (`npm run build`), `cts-audit-data/` beside the function's index.js (its data zip, which FunctionGraph merges
 * with the code), and `dist/data/` of the checkout when running from src/ (tsx, vitest: after one `npm run build`;
 * without it the CSVs are parsed, slower but the same answers).
 */
export function compactDataDirs(): string[] {
  const file = moduleFile();
  if (!file) return [];
  const dir = dirname(file);
  return [join(dir, "data"), join(dir, FUNCTION_DATA_DIR), join(dir, "..", "..", "dist", "data")];
}

/**
 * The compact ASN table in the first of `dirs` that has one: `asn-<version>.bin` when the package's version is
 * known (a file of another version is refused, with a problem saying so), else the newest `asn-*.bin` (the
 * function, which carries no package). Damaged or stale files are skipped with a problem each; `undefined` when none
 * is usable, and the caller parses the CSVs.
 */
export function findCompactAsn(
  dirs: readonly string[],
  version: string | undefined,
  problems: string[],
): { table: AsnTable; file: string; version: string } | undefined {
  for (const dir of dirs) {
    let file: string | undefined;
    if (version !== undefined) file = join(dir, compactAsnFileName(version));
    else {
      let names: string[] = [];
      try {
        names = readdirSync(dir).filter((f) => /^asn-.+\.bin$/.test(f));
      } catch {
        // No such folder: the next.
      }
      const newest = names.sort(compareVersionNames).at(-1);
      if (newest) file = join(dir, newest);
    }
    if (!file || !existsSync(file)) continue;
    try {
      const { table, source } = AsnTable.fromBinary(readFileSync(file), file);
      if (source.package !== ASN_PACKAGE || (version !== undefined && source.version !== version)) {
        problems.push(
          `compact ASN data ${file} was built from ${source.package}@${source.version}, not ` +
            `${ASN_PACKAGE}@${version ?? "?"}: refused (run npm run build to rebuild it)`,
        );
        continue;
      }
      return { table, file, version: source.version };
    } catch (err) {
      problems.push(`${describeError(err)} (refused)`);
    }
  }
  return undefined;
}

/** `asn-2.3.10.bin` after `asn-2.3.9.bin`: versions compared number by number. */
function compareVersionNames(a: string, b: string): number {
  return a.localeCompare(b, "en", { numeric: true });
}

// The bundled data, loaded once per process: a warm function invocation or a second lookup reuses it.
let bundledCountry: CountrySource | undefined;
let bundledAsn: AsnSource | undefined;

/**
 * Offline country and network (ASN) lookup (DESIGN "Enrichment"): bundled data from npm packages, or the user's
 * `.mmdb` files. IPv4-mapped IPv6 is looked up as the IPv4 peer; private, reserved, loopback, link-local,
 * multicast and documentation ranges get no country and a note that says so, whatever a database holds for them.
 *
 * The bundled data is loaded on first lookup (a run without alerts or logins pays nothing); the user's files are
 * read when the lookup is opened, so that a bad file is a usage error before any work starts. Results are cached
 * per address (a run sees few distinct addresses).
 */
export class GeoLookup {
  private country: CountrySource | undefined | null;
  private asn: AsnSource | undefined | null;
  private readonly cache = new Map<string, GeoInfo>();

  private constructor(
    country: CountrySource | undefined,
    asn: AsnSource | undefined,
    private readonly problems: string[],
  ) {
    this.country = country;
    this.asn = asn;
  }

  /**
   * Opens the user's files now (the bundled data on first use).
   * @throws ConfigError (exit 2) naming the option when a user's file is not a readable MaxMind DB
   */
  static open(options: GeoLookupOptions = {}): GeoLookup {
    const problems: string[] = [];
    const country = options.geoDb
      ? userDb(options.geoDb, options.geoOption ?? "--geo-db", "country", problems)
      : undefined;
    const asn = options.asnDb ? userAsn(options.asnDb, options.asnOption ?? "--asn-db", problems) : undefined;
    if (problems.length > 0) throw new ConfigError(problems);
    return new GeoLookup(country, asn, []);
  }

  /** The data this lookup uses, for the report's header; loads the bundled data's descriptions (not the data). */
  get data(): GeoDataInfo[] {
    const country = this.country ? this.country.info : bundledCountryInfo();
    const asn = this.asn ? this.asn.info : bundledAsnInfo();
    return [country, asn].filter((d): d is GeoDataInfo => d !== undefined);
  }

  /** Problems met loading bundled data (each once), for the run's warnings: the lookup then says "no data". */
  get warnings(): readonly string[] {
    return this.problems;
  }

  /** Country, ASN and organisation of an address (any spelling the strict parser accepts; others get a note). */
  lookup(text: string): GeoInfo {
    const cached = this.cache.get(text);
    if (cached) return cached;
    const info = this.compute(text);
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(text, info);
    return info;
  }

  private compute(text: string): GeoInfo {
    const parsed = parseIpAddress(text);
    if (!parsed.ok) return { country: "", asOrg: "", note: text === "" ? "no address" : "not an address" };
    const v6 = parsed.address.value;
    // IPv4 and IPv4-mapped IPv6 name an IPv4 peer: look it up as IPv4 (the databases key IPv4 as IPv4).
    const address: ipaddr.IPv4 | ipaddr.IPv6 = ipv4Peer(v6) ?? v6;
    const special = specialRangeNote(address);
    if (special) return { country: "", asOrg: "", note: special };
    const key = address.toString();
    const notes: string[] = [];

    let country = "";
    const c = this.countrySource();
    if (c) {
      country = countryOf(c.reader.get(key));
      if (!country) notes.push("not in the country data");
    } else notes.push("no country data");

    let asn: number | undefined;
    let asOrg = "";
    const a = this.asnSource();
    if (a) {
      const r =
        a.kind === "table"
          ? address.kind() === "ipv4"
            ? a.table.lookupV4(ipv4Value(address as ipaddr.IPv4))
            : a.table.lookupV6(ipv6Value(address as ipaddr.IPv6))
          : asnOf(a.reader.get(key));
      if (r) {
        asn = r.asn;
        asOrg = r.asOrg;
      } else notes.push("not in the network data");
    } else notes.push("no network data");
    return {
      country,
      ...(asn === undefined ? {} : { asn }),
      asOrg,
      ...(notes.length > 0 ? { note: notes.join("; ") } : {}),
    };
  }

  private countrySource(): CountrySource | undefined {
    if (this.country === undefined) {
      try {
        bundledCountry ??= loadBundledCountry();
        this.country = bundledCountry;
      } catch (err) {
        this.problems.push(`country data ${COUNTRY_PACKAGE} cannot be loaded: ${describeError(err)}`);
        this.country = null;
      }
    }
    return this.country ?? undefined;
  }

  private asnSource(): AsnSource | undefined {
    if (this.asn === undefined) {
      try {
        bundledAsn ??= loadBundledAsn(this.problems);
        this.asn = bundledAsn;
      } catch (err) {
        this.problems.push(`network data ${ASN_PACKAGE} cannot be loaded: ${describeError(err)}`);
        this.asn = null;
      }
    }
    return this.asn ?? undefined;
  }
}

/**
 * A reader over a `.mmdb`'s bytes that keeps what it decoded: addresses share few data records (a country database
 * has a few hundred), and decoding a record took half of a lookup of a new address. Bounded, as a user's city
 * database has millions of records; the cache is cleared when full, like the lookup's own.
 */
function openMmdb(bytes: Buffer): Reader<Record<string, unknown>> {
  const decoded = new Map<number, unknown>();
  return new Reader(bytes, {
    cache: {
      get: (offset: number) => decoded.get(offset),
      set: (offset: number, value: unknown) => {
        if (decoded.size >= 10_000) decoded.clear();
        decoded.set(offset, value);
      },
    },
  });
}

/**
 * The bundled country data: the package's `.mmdb` (mmdb-lib's Reader over the file's bytes: 7.8 MB held, tens of ms
 * to open, so it needs no compact form), else the copy in the function's data zip.
 */
function loadBundledCountry(): CountrySource {
  const info = bundledCountryInfo();
  if (info) return { reader: openMmdb(readFileSync(join(packageDir(COUNTRY_PACKAGE), COUNTRY_FILE))), info };
  for (const dir of compactDataDirs()) {
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((f) => /^geo-whois-asn-country-.+\.mmdb$/.test(f));
    } catch {
      continue;
    }
    const newest = names.sort(compareVersionNames).at(-1);
    if (!newest) continue;
    const version = newest.slice("geo-whois-asn-country-".length, -".mmdb".length);
    return {
      reader: openMmdb(readFileSync(join(dir, newest))),
      info: countryInfo(version, `${COUNTRY_PACKAGE}@${version} (${FUNCTION_DATA_DIR}/${newest})`),
    };
  }
  throw new Error(
    `${COUNTRY_PACKAGE} is not installed and no ${FUNCTION_DATA_DIR}/ folder is beside the code`,
  );
}

/**
 * The bundled ASN data: the compact table `npm run build` derived (milliseconds, ~11 MB), else the package's CSVs
 * (about 1.2 s of CPU and 160 MB of peak RSS), else the compact table of the function's data zip.
 */
function loadBundledAsn(problems: string[]): AsnSource {
  const version = packageVersion(ASN_PACKAGE);
  const compact = findCompactAsn(compactDataDirs(), version, problems);
  if (compact) {
    const info = asnInfo(compact.version);
    return {
      kind: "table",
      table: compact.table,
      info: version === undefined ? { ...info, source: `${info.source} (${FUNCTION_DATA_DIR}/)` } : info,
    };
  }
  if (version === undefined)
    throw new Error(`${ASN_PACKAGE} is not installed and no ${FUNCTION_DATA_DIR}/ folder is beside the code`);
  const dir = packageDir(ASN_PACKAGE);
  return {
    kind: "table",
    table: AsnTable.load(join(dir, ASN_FILES[0]), join(dir, ASN_FILES[1])),
    info: asnInfo(version),
  };
}

function packageDir(name: string): string {
  return dirname(resolvePackage(`${name}/package.json`));
}

function packageVersion(name: string): string | undefined {
  try {
    const pkg = JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")) as {
      version?: unknown;
    };
    return typeof pkg.version === "string" ? pkg.version : undefined;
  } catch {
    return undefined;
  }
}

function bundledCountryInfo(): GeoDataInfo | undefined {
  const version = packageVersion(COUNTRY_PACKAGE);
  return version ? countryInfo(version) : undefined;
}

function countryInfo(version: string, source = `${COUNTRY_PACKAGE}@${version}`): GeoDataInfo {
  return {
    kind: "country",
    source,
    version,
    licence: "CC0-1.0",
    attribution: "country data: ip-location-db geo-whois-asn-country (RIR whois and ASN data), CC0 1.0",
  };
}

function bundledAsnInfo(): GeoDataInfo | undefined {
  const version = packageVersion(ASN_PACKAGE);
  return version ? asnInfo(version) : undefined;
}

function asnInfo(version: string): GeoDataInfo {
  return {
    kind: "asn",
    source: `${ASN_PACKAGE}@${version}`,
    version,
    licence: "CC-BY-4.0",
    attribution: bundledAsnAttribution(),
  };
}

/** The attribution CC BY 4.0 asks for, naming where the data was read from when it is not the package. */
function bundledAsnAttribution(from?: string): string {
  return (
    `network data: ip-location-db asn${from ? ` (${from})` : ""}, CC BY 4.0, from IP to ASN Lite by DB-IP ` +
    "(https://db-ip.com), RouteViews (https://www.routeviews.org) and NRO (https://www.nro.net)"
  );
}

/**
 * The user's ASN data: an `.mmdb` (GeoLite2-ASN schema), a compact table (`asn-<version>.bin`, as `npm run build`
 * and the function's data zip hold it), or a directory holding ip-location-db's `asn-ipv4-num.csv` and
 * `asn-ipv6-num.csv`.
 */
function userAsn(file: string, option: string, problems: string[]): AsnSource | undefined {
  let isDir = false;
  try {
    isDir = statSync(file).isDirectory();
  } catch {
    // Not there: userDb says so.
  }
  if (!isDir && startsLikeCompactTable(file)) {
    try {
      const { table, source } = AsnTable.fromBinary(readFileSync(file), file);
      return {
        kind: "table",
        table,
        info: {
          kind: "asn",
          source: file,
          version: source.version,
          licence: "CC-BY-4.0",
          attribution: bundledAsnAttribution(`${file}, from ${source.package}@${source.version}`),
        },
      };
    } catch (err) {
      problems.push(`${option} ${file}: ${describeError(err)}`);
      return undefined;
    }
  }
  if (!isDir) {
    const db = userDb(file, option, "asn", problems);
    return db ? { kind: "mmdb", reader: db.reader, info: db.info } : undefined;
  }
  try {
    const table = AsnTable.load(join(file, ASN_FILES[0]), join(file, ASN_FILES[1]));
    return {
      kind: "table",
      table,
      info: {
        kind: "asn",
        source: file,
        version: "as the directory holds",
        licence: "CC-BY-4.0",
        attribution: bundledAsnAttribution(file),
      },
    };
  } catch (err) {
    problems.push(
      `${option} ${file}: a directory, but not one with ${ASN_FILES.join(" and ")} ` +
        `(${describeError(err)}); give an .mmdb ASN database or such a directory, or drop ${option}`,
    );
    return undefined;
  }
}

/** Whether `file` begins with the compact table's magic (read 8 bytes, not the file). */
function startsLikeCompactTable(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const head = Buffer.alloc(8);
    return AsnTable.isBinary(head.subarray(0, readSync(fd, head, 0, 8, 0)));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function userDb(
  file: string,
  option: string,
  kind: "country" | "asn",
  problems: string[],
): { reader: Reader<Record<string, unknown>>; info: GeoDataInfo } | undefined {
  let reader: Reader<Record<string, unknown>>;
  try {
    reader = openMmdb(readFileSync(file));
  } catch (err) {
    problems.push(
      `${option} ${file}: not a readable MaxMind DB (.mmdb) file (${describeError(err)}); ` +
        `give an .mmdb ${kind === "country" ? "country (or city)" : "ASN"} database, or drop ${option} ` +
        `to use the bundled data`,
    );
    return undefined;
  }
  const m = reader.metadata;
  const version = Number.isNaN(m.buildEpoch.getTime()) ? "unknown" : m.buildEpoch.toISOString();
  return {
    reader,
    info: {
      kind,
      source: file,
      version,
      licence: "as its provider states",
      attribution: `${kind === "country" ? "country" : "network"} data: ${file} (${m.databaseType}, built ${version})`,
    },
  };
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

/** ip-location-db's `country_code`, or MaxMind's `country.iso_code` (then `registered_country`). */
function countryOf(record: unknown): string {
  if (!isRecord(record)) return "";
  const direct = record.country_code;
  const nested = [record.country, record.registered_country]
    .map((c) => (isRecord(c) ? c.iso_code : undefined))
    .find((c) => typeof c === "string");
  const code = typeof direct === "string" ? direct : nested;
  return typeof code === "string" && /^[A-Za-z]{2}$/.test(code) ? code.toUpperCase() : "";
}

/** MaxMind GeoLite2-ASN / ip-location-db ASN schema. */
function asnOf(record: unknown): { asn: number; asOrg: string } | undefined {
  if (!isRecord(record)) return undefined;
  const asn = record.autonomous_system_number;
  if (typeof asn !== "number" || !Number.isInteger(asn)) return undefined;
  const org = record.autonomous_system_organization;
  return { asn, asOrg: typeof org === "string" ? org : "" };
}

/**
 * The IPv4 peer of an address in the parser's 128-bit space (IPv4 is `::ffff:a.b.c.d` there), or undefined when it
 * names an IPv6 peer. ipaddr.js's `isIPv4MappedAddress()` and `toIPv4Address()` answer the same, but each first
 * classifies the address against every special range, which cost more than the lookup itself on a run whose alerts
 * come from thousands of addresses; test/enrich/GeoLookup.ipv4Peer.test.ts checks this against them.
 */
export function ipv4Peer(v6: ipaddr.IPv6): ipaddr.IPv4 | undefined {
  const p = v6.parts;
  if (p[0] !== 0 || p[1] !== 0 || p[2] !== 0 || p[3] !== 0 || p[4] !== 0 || p[5] !== 0xffff) return undefined;
  const high = p[6]!;
  const low = p[7]!;
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function ipv4Value(a: ipaddr.IPv4): number {
  return a.octets.reduce((n, o) => n * 256 + o, 0);
}

function ipv6Value(a: ipaddr.IPv6): bigint {
  return a.parts.reduce((n, p) => (n << 16n) | BigInt(p), 0n);
}
