/**
 * Builds the FunctionGraph deployable in dist-function/ (runtime Node.js 20 or 22, handler `index.handler`):
 *
 *   dist-function/cts-audit-function.zip
 *     index.js                  the handler and the engine with every dependency it loads, one CommonJS bundle
 *                               (esbuild, from src/handler.ts): the runtime require()s it and finds `handler`
 *     package.json              no "type": index.js stays CommonJS
 *     THIRD-PARTY-NOTICES.txt   the licence of each package bundled into index.js
 *
 *   npm run package
 *
 * It bundles from src/ and leaves dist/ alone, and `npm run build` leaves dist-function/ alone: neither deletes
 * what the other made. Why one bundle and not the installed production tree: the tree was 3,608 files and 15.9 MB
 * unpacked, most of it what the SDKs depend on and the function never loads; the bundle is what it does load, and
 * one file loads faster than hundreds. Nothing needs shipping beside it: the local ledger's native database (lmdb)
 * stays out, since the function keeps its ledger in OBS (`CTS_AUDIT_STATE=obs://...`).
 *
 *   dist-function/cts-audit-geo-data.zip      the country and ASN data, as a FunctionGraph dependency
 *     cts-audit-data/geo-whois-asn-country-<version>.mmdb   the country package's .mmdb
 *     cts-audit-data/asn-<version>.bin                      the compact ASN table (scripts/build-geo-data.ts)
 *     cts-audit-data/LICENSES.txt                           the data's licences and attribution
 *
 * FunctionGraph merges a dependency's files with the code, so index.js finds cts-audit-data/ beside itself;
 * `CTS_AUDIT_GEO_DB` / `CTS_AUDIT_ASN_DB` may point at the two files instead (README "In the function").
 *
 * More zips: add a `ZipSpec` to `FUNCTION_ZIPS`; each is written to dist-function/ and reported by name. The size
 * budget (`CODE_ZIP_BUDGET_BYTES`) is the code zip's alone.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync } from "node:fs";
import { createWriteStream } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import yazl from "yazl";
import {
  ASN_PACKAGE,
  COUNTRY_FILE,
  COUNTRY_PACKAGE,
  FUNCTION_DATA_DIR,
  packagedCountryFileName,
} from "../src/enrich/GeoLookup.js";
import { compactAsnBytes } from "./build-geo-data.js";
import { thirdPartyNotices } from "./thirdPartyNotices.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const requireFromHere = createRequire(import.meta.url);

/** Where the zips go. Nothing else writes here, and the packaging replaces only its own zips. */
export const FUNCTION_DIR = path.join(root, "dist-function");

/** DESIGN "Performance": the deployable code zip at most 2 MB. */
export const CODE_ZIP_BUDGET_BYTES = 2_000_000;

/** Bundled or not, these never go in: the local ledger's native database and what only it loads. */
export const NOT_IN_FUNCTION = ["lmdb"];

/** One file of a zip. */
export interface ZipEntry {
  name: string;
  data: Buffer;
}

/** A zip the packaging writes: its file name in dist-function/ and how its entries are made. */
export interface ZipSpec {
  file: string;
  entries(): Promise<ZipEntry[]>;
}

/** A written zip. */
export interface BuiltZip {
  path: string;
  bytes: number;
  /** Entry names, in zip order. */
  entries: string[];
}

/** The code zip's entries: the bundle, its package.json and the bundled packages' licences. */
export async function functionCodeEntries(): Promise<ZipEntry[]> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ["src/handler.ts"],
    write: false,
    outfile: "index.js",
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node20",
    external: NOT_IN_FUNCTION,
    // CommonJS has no import.meta: modules that resolve files from it fall back to __filename (GeoLookup).
    define: { "import.meta.url": '""' },
    // Whitespace and syntax only: identifiers keep their names so a stack trace in the function's log reads.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
  const bundle = result.outputFiles.find((f) => f.path.endsWith("index.js"));
  if (!bundle) throw new Error("esbuild produced no index.js");
  return [
    { name: "index.js", data: Buffer.from(bundle.contents) },
    {
      name: "package.json",
      data: Buffer.from(
        `${JSON.stringify({ name: "cts-audit-function", private: true, main: "index.js" }, null, 2)}\n`,
      ),
    },
    {
      name: "THIRD-PARTY-NOTICES.txt",
      data: Buffer.from(thirdPartyNotices(root, result.metafile, "index.js")),
    },
  ];
}

/**
 * The data zip's entries: the country `.mmdb` as the package ships it (mmdb-lib reads it in tens of ms) and the
 * compact ASN table derived from the package's CSVs, both named by version, with the licences their data carries.
 */
export async function geoDataEntries(): Promise<ZipEntry[]> {
  const dirOf = (pkg: string) => path.dirname(requireFromHere.resolve(`${pkg}/package.json`));
  const countryDir = dirOf(COUNTRY_PACKAGE);
  const asnDir = dirOf(ASN_PACKAGE);
  const versionOf = (dir: string) =>
    (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
  const asn = compactAsnBytes();
  const licences = [
    `Data in ${FUNCTION_DATA_DIR}/, with the licences of the npm packages it comes from.\n`,
    ...[
      [COUNTRY_PACKAGE, countryDir],
      [ASN_PACKAGE, asnDir],
    ].map(([pkg, dir]) => {
      const files = readdirSync(dir!)
        .filter((f) => /licen[cs]e|modifications/i.test(f))
        .sort();
      return (
        `${"=".repeat(78)}\n${pkg}@${versionOf(dir!)}\n\n` +
        files.map((f) => `--- ${f}\n${readFileSync(path.join(dir!, f), "utf8").trim()}\n`).join("\n")
      );
    }),
  ];
  return [
    {
      name: `${FUNCTION_DATA_DIR}/${packagedCountryFileName(versionOf(countryDir))}`,
      data: readFileSync(path.join(countryDir, COUNTRY_FILE)),
    },
    { name: `${FUNCTION_DATA_DIR}/${asn.name}`, data: asn.data },
    { name: `${FUNCTION_DATA_DIR}/LICENSES.txt`, data: Buffer.from(licences.join("\n")) },
  ];
}

/** The zips `npm run package` writes, the code zip first. */
export const FUNCTION_ZIPS: ZipSpec[] = [
  { file: "cts-audit-function.zip", entries: functionCodeEntries },
  { file: "cts-audit-geo-data.zip", entries: geoDataEntries },
];

/** Writes `entries` to `out` (through a temporary name, so a failed run leaves the previous zip whole). */
export async function writeZip(entries: ZipEntry[], out: string): Promise<BuiltZip> {
  mkdirSync(path.dirname(out), { recursive: true });
  const zip = new yazl.ZipFile();
  // A fixed time and mode: the same sources give the same zip, byte for byte.
  for (const e of entries) zip.addBuffer(e.data, e.name, { mtime: new Date(0), mode: 0o100644 });
  zip.end();
  const partial = `${out}.partial`;
  await new Promise<void>((resolve, reject) => {
    zip.outputStream
      .pipe(createWriteStream(partial))
      .on("close", () => resolve())
      .on("error", reject);
  });
  renameSync(partial, out);
  return { path: out, bytes: statSync(out).size, entries: entries.map((e) => e.name) };
}

/** Writes every zip of `FUNCTION_ZIPS` into `dir`; returns them by file name. */
export async function packageFunction(dir = FUNCTION_DIR): Promise<Map<string, BuiltZip>> {
  const built = new Map<string, BuiltZip>();
  for (const spec of FUNCTION_ZIPS)
    built.set(spec.file, await writeZip(await spec.entries(), path.join(dir, spec.file)));
  return built;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await packageFunction();
  for (const zip of built.values()) {
    console.log(
      `wrote ${path.relative(root, zip.path)}: ${(zip.bytes / 1e6).toFixed(2)} MB, ${zip.entries.length} files`,
    );
  }
  const code = built.get(FUNCTION_ZIPS[0]!.file)!;
  if (code.bytes > CODE_ZIP_BUDGET_BYTES) {
    console.error(
      `the code zip is over its ${CODE_ZIP_BUDGET_BYTES / 1e6} MB budget (DESIGN "Performance"): look at what esbuild bundles (metafile) before shipping it`,
    );
    process.exitCode = 1;
  }
}
