/**
 * What the offline country/ASN lookup costs (issues 15 and its follow-up), as ratios within one run where possible
 * (the machine is shared): loading each form of the data in a fresh process (load time, CPU, peak RSS and the RSS
 * still held after GC), a lookup of an address not seen before (IPv4, IPv6) against parsing the same address alone
 * (the floor any lookup pays), a cached lookup, and the sizes on disk and in the function's data zip.
 *
 *   BENCH_ONLY=geo npm run bench     (the rows in the bench's table)
 *   npx tsx bench/geo.ts             (the same, printed alone)
 *
 * Each load runs in its own process (`npx tsx bench/geo.ts --load <form>`): peak RSS is per process, and a load
 * measured after another would inherit its heap.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Reader } from "mmdb-lib";
import { parseIpAddress } from "../src/detect/AllowList.js";
import { AsnTable } from "../src/enrich/AsnTable.js";
import { compactAsnFileName, GeoLookup } from "../src/enrich/GeoLookup.js";
import { buildGeoData } from "../scripts/build-geo-data.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const dirOf = (pkg: string) => path.dirname(require.resolve(`${pkg}/package.json`));
const asnDir = dirOf("@ip-location-db/asn");
const countryMmdb = path.join(
  dirOf("@ip-location-db/geo-whois-asn-country-mmdb"),
  "geo-whois-asn-country.mmdb",
);
const asnVersion = (
  JSON.parse(readFileSync(path.join(asnDir, "package.json"), "utf8")) as { version: string }
).version;
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const du = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);

type Form = "asn-csv" | "asn-compact" | "country-mmdb";
interface LoadResult {
  wallMs: number;
  cpuMs: number;
  peakRss: number;
  baseRss: number;
  heldRss: number;
}

/** The compact table `npm run build` wrote, built now (into dist/data) when the checkout has not been built. */
function compactFile(): string {
  const file = path.join(root, "dist", "data", compactAsnFileName(asnVersion));
  return existsSync(file) ? file : buildGeoData();
}

/** In the child: load one form, keep it alive, report. */
function loadHere(form: Form): LoadResult {
  global.gc?.();
  const baseRss = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let held: unknown;
  if (form === "asn-csv")
    held = AsnTable.load(path.join(asnDir, "asn-ipv4-num.csv"), path.join(asnDir, "asn-ipv6-num.csv"));
  else if (form === "asn-compact") {
    const file = compactFile();
    held = AsnTable.fromBinary(readFileSync(file), file).table;
  } else held = new Reader(readFileSync(countryMmdb));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  // Twice: file buffers are external memory, freed on a later collection than the one that drops them.
  global.gc?.();
  global.gc?.();
  const heldRss = process.memoryUsage().rss - baseRss;
  if (!held) throw new Error("nothing loaded");
  return {
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    peakRss: process.resourceUsage().maxRSS * 1024,
    baseRss,
    heldRss,
  };
}

function loadInChild(form: Form): LoadResult {
  const out = execFileSync(
    process.execPath,
    ["--expose-gc", "--import", "tsx", fileURLToPath(import.meta.url), "--load", form],
    { cwd: root, encoding: "utf8" },
  );
  return JSON.parse(out.trim().split("\n").at(-1)!) as LoadResult;
}

function addresses(n: number, v6: boolean): string[] {
  const out: string[] = [];
  let x = 0x9e3779b9;
  const next = () => (x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0);
  for (let i = 0; i < n; i++)
    out.push(
      v6
        ? `2${(next() % 0xfff).toString(16).padStart(3, "0")}:${(next() & 0xffff).toString(16)}::${(next() & 0xffff).toString(16)}`
        : `${1 + (next() % 222)}.${next() & 255}.${next() & 255}.${next() & 255}`,
    );
  return out;
}

function perOp(fn: (a: string) => unknown, list: string[]): number {
  const start = process.hrtime.bigint();
  for (const a of list) fn(a);
  return Number(process.hrtime.bigint() - start) / list.length / 1000;
}

/** The bench's rows: `[measure, result, vs floor, note]`, as bench/run.ts prints them. */
export function geoBench(): Array<[string, string, string, string]> {
  const rows: Array<[string, string, string, string]> = [];
  const csv = loadInChild("asn-csv");
  const compact = loadInChild("asn-compact");
  const country = loadInChild("country-mmdb");
  const load = (name: string, r: LoadResult, vs: string) =>
    rows.push([
      `load ${name}`,
      `${r.wallMs.toFixed(0)} ms (${r.cpuMs.toFixed(0)} ms CPU)`,
      vs,
      `peak RSS ${mb(r.peakRss)} (process before: ${mb(r.baseRss)}), held after GC +${mb(r.heldRss)}`,
    ]);
  load("ASN, CSV (before)", csv, "");
  load("ASN, compact (after)", compact, `${(csv.cpuMs / compact.cpuMs).toFixed(0)}x less CPU than CSV`);
  load("country .mmdb", country, "");

  // Lookups through GeoLookup as the engine uses it (here the compact table when dist/data has it).
  compactFile();
  const geo = GeoLookup.open();
  geo.lookup("8.8.8.8");
  for (const v6 of [false, true]) {
    const list = addresses(50_000, v6);
    const parse = perOp((a) => parseIpAddress(a), list);
    const fresh = perOp((a) => geo.lookup(a), list);
    // A fresh lookup (its cache empty, the data shared) sees a few thousand addresses twice: the second time is the
    // cache (it holds 10,000, and the 50,000 above would have cleared it midway).
    const warm = GeoLookup.open();
    const recent = list.slice(0, 5_000);
    perOp((a) => warm.lookup(a), recent);
    const cached = perOp((a) => warm.lookup(a), recent);
    rows.push([
      `lookup ${v6 ? "IPv6" : "IPv4"}, new address`,
      `${fresh.toFixed(2)} µs`,
      `${(fresh / parse).toFixed(1)}x parse`,
      `${cached.toFixed(2)} µs cached; data: ${geo.data.map((d) => d.source).join(", ")}`,
    ]);
  }
  const csvBytes = ["asn-ipv4-num.csv", "asn-ipv6-num.csv"].reduce(
    (n, f) => n + statSync(path.join(asnDir, f)).size,
    0,
  );
  rows.push([
    "on disk",
    `compact ASN ${mb(statSync(compactFile()).size)}`,
    `${(csvBytes / statSync(compactFile()).size).toFixed(1)}x smaller than the -num CSVs`,
    `packages (unchanged): country ${mb(du(dirOf("@ip-location-db/geo-whois-asn-country-mmdb")))}, asn ${mb(du(asnDir))} (-num CSVs ${mb(csvBytes)})`,
  ]);
  return rows;
}

const argv = process.argv;
if (argv[1] && path.resolve(argv[1]) === fileURLToPath(import.meta.url)) {
  const at = argv.indexOf("--load");
  if (at >= 0) console.log(JSON.stringify(loadHere(argv[at + 1] as Form)));
  else for (const r of geoBench()) console.log(r.filter((c) => c !== "").join(" | "));
}
