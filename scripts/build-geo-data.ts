/**
 * Derives the compact ASN table (src/enrich/AsnTable.ts, `toBinary`) from the pinned `@ip-location-db/asn`
 * package's CSVs: `npm run build` writes `dist/data/asn-<version>.bin`, `npm run package` puts one into the
 * function's data zip. Nothing is downloaded: the CSVs are the installed package's.
 *
 *   npx tsx scripts/build-geo-data.ts [outDir]     (default dist/data)
 *
 * Why at build time: parsing the CSVs costs about 1.2 s of CPU and 160 MB of peak RSS, once per process that looks up
 * an address; the compact file loads in one read. The same package version gives the same bytes.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AsnTable } from "../src/enrich/AsnTable.js";
import { ASN_FILES, ASN_PACKAGE, compactAsnFileName } from "../src/enrich/GeoLookup.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** The installed ASN package's directory and version. */
export function asnPackage(): { dir: string; version: string } {
  const manifest = require.resolve(`${ASN_PACKAGE}/package.json`);
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  return { dir: path.dirname(manifest), version };
}

/** The compact table's bytes for the installed package. */
export function compactAsnBytes(): { name: string; data: Buffer; version: string } {
  const { dir, version } = asnPackage();
  const table = AsnTable.load(path.join(dir, ASN_FILES[0]), path.join(dir, ASN_FILES[1]));
  return {
    name: compactAsnFileName(version),
    data: table.toBinary({ package: ASN_PACKAGE, version }),
    version,
  };
}

/**
 * Writes `asn-<version>.bin` into `outDir` (through a temporary name) and removes the other versions' files there:
 * a stale file must not linger beside the current one.
 * @returns the file written
 */
export function buildGeoData(outDir = path.join(root, "dist", "data")): string {
  const { name, data } = compactAsnBytes();
  mkdirSync(outDir, { recursive: true });
  const out = path.join(outDir, name);
  writeFileSync(`${out}.partial`, data);
  renameSync(`${out}.partial`, out);
  for (const f of readdirSync(outDir))
    if (/^asn-.*\.bin(\.partial)?$/.test(f) && f !== name) rmSync(path.join(outDir, f));
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = buildGeoData(process.argv[2] ? path.resolve(process.argv[2]) : undefined);
  console.log(`wrote ${path.relative(root, out)}`);
}
