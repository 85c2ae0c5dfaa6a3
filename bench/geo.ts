/**
 * npx tsx bench/geo.ts: what the offline country/ASN lookup costs (issue 15), as ratios within one run where
 * possible (the machine is shared): loading the bundled data once, a lookup of an address not seen before (IPv4,
 * IPv6) against parsing the same address alone (the floor any lookup pays), a cached lookup, and the memory the data
 * takes (RSS and heap before and after loading). Sizes on disk are printed too.
 */
import { readdirSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { parseIpAddress } from "../src/detect/AllowList.js";
import { GeoLookup } from "../src/enrich/GeoLookup.js";

const require = createRequire(import.meta.url);
const dirOf = (pkg: string) => path.dirname(require.resolve(`${pkg}/package.json`));
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const du = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);

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

const before = process.memoryUsage();
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const geo = GeoLookup.open();
geo.lookup("8.8.8.8"); // loads both databases
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
const loadCpuMs = (process.cpuUsage(cpu0).user + process.cpuUsage(cpu0).system) / 1000;
// Twice: the file buffers are external memory, freed on a later collection than the one that drops them.
global.gc?.();
global.gc?.();
const after = process.memoryUsage();
const peakRss = process.resourceUsage().maxRSS * 1024;

const rows: string[][] = [];
for (const v6 of [false, true]) {
  const list = addresses(50_000, v6);
  const parse = perOp((a) => parseIpAddress(a), list);
  const fresh = perOp((a) => geo.lookup(a), list);
  const cached = perOp((a) => geo.lookup(a), list.slice(0, 5_000));
  rows.push([
    v6 ? "IPv6" : "IPv4",
    `${fresh.toFixed(2)} µs`,
    `${(fresh / parse).toFixed(1)}x parse`,
    `${cached.toFixed(2)} µs cached`,
  ]);
}
console.log(`load (first lookup): ${loadMs.toFixed(0)} ms wall, ${loadCpuMs.toFixed(0)} ms CPU`);
console.log(
  `memory: peak RSS ${mb(peakRss)} (before loading ${mb(before.rss)}), after GC: RSS +${mb(after.rss - before.rss)}, heap +${mb(after.heapUsed - before.heapUsed)}, ` +
    `external +${mb(after.external + after.arrayBuffers - before.external - before.arrayBuffers)}`,
);
for (const r of rows) console.log(`lookup ${r.join(", ")}`);
console.log(
  `on disk: country ${mb(du(dirOf("@ip-location-db/geo-whois-asn-country-mmdb")))}, ` +
    `asn ${mb(du(dirOf("@ip-location-db/asn")))} (of which the -num CSVs read: ` +
    `${mb(["asn-ipv4-num.csv", "asn-ipv6-num.csv"].reduce((n, f) => n + statSync(path.join(dirOf("@ip-location-db/asn"), f)).size, 0))})`,
);
