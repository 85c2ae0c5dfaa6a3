/**
 * Builds dist/cts-audit-function.zip, the FunctionGraph deployable (Node.js 20 runtime, handler `index.handler`):
 *
 *   index.js         CommonJS entry: loads the ESM build, so the runtime may require() or import() it
 *   package.json     no "type": the entry stays CommonJS
 *   app/             the compiled engine (dist/*.js) with {"type": "module"}
 *   node_modules/    production dependencies only, as installed (npm ls --omit=dev)
 *
 *   npm run package
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yazl from "yazl";
import { createWriteStream } from "node:fs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const ENTRY = `"use strict";
// FunctionGraph entry point. The engine is an ES module; import() loads it from CommonJS.
let loaded;
exports.handler = async function handler(event, context) {
  loaded = loaded || import("./app/handler.js");
  return (await loaded).handler(event, context);
};
`;

function addTree(zip: yazl.ZipFile, dir: string, into: string, keep: (file: string) => boolean): number {
  let n = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = path.join(dir, entry.name);
    const name = `${into}/${entry.name}`;
    if (entry.isDirectory()) n += addTree(zip, full, name, keep);
    else if (entry.isFile() && keep(full)) {
      zip.addFile(full, name, { mtime: new Date(0), mode: statSync(full).mode });
      n++;
    }
  }
  return n;
}

/** Production dependency folders, relative to the project (npm's own resolution, no guessing). */
export function productionPackages(): string[] {
  const out = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: root,
    encoding: "utf8",
  });
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && l !== root)
    .map((l) => path.relative(root, l))
    .filter((l) => l.startsWith("node_modules"))
    .filter(
      (l) =>
        ![...LOCAL_LEDGER_ONLY, ...GEO_DATA].some(
          (name) => l === `node_modules/${name}` || l.startsWith(`node_modules/${name}/`),
        ),
    )
    .sort();
}

/**
 * The local ledger's embedded database and what only it needs (`npm ls lmdb --all`): the function keeps its ledger
 * in OBS (CTS_AUDIT_STATE must be obs://), so none of it is loaded there, and its native binaries are most of a
 * megabyte each.
 */
const LOCAL_LEDGER_ONLY = [
  "lmdb",
  "@lmdb",
  "msgpackr",
  "msgpackr-extract",
  "@msgpackr-extract",
  "node-gyp-build-optional-packages",
  "detect-libc",
  "node-addon-api",
  "ordered-binary",
  "weak-lru-cache",
  "@harperfast",
];

/**
 * The country and ASN data (issue 15): 80 MB unpacked, about 15 MB zipped, against the code zip's 2 MB target. The
 * function gets it apart, as a FunctionGraph dependency that CTS_AUDIT_GEO_DB / CTS_AUDIT_ASN_DB point to (README,
 * "In the function"); without it, alerts say "no country data" rather than guess.
 */
const GEO_DATA = ["@ip-location-db"];

/** Writes the zip; returns its path. */
export async function packageFunction(
  out = path.join(root, "dist", "cts-audit-function.zip"),
): Promise<string> {
  const dist = path.join(root, "dist");
  if (!existsSync(path.join(dist, "handler.js")))
    throw new Error("dist/handler.js is missing: run npm run build first");
  const zip = new yazl.ZipFile();
  zip.addBuffer(Buffer.from(ENTRY), "index.js", { mtime: new Date(0) });
  zip.addBuffer(
    Buffer.from(`${JSON.stringify({ name: "cts-audit-function", private: true }, null, 2)}\n`),
    "package.json",
    { mtime: new Date(0) },
  );
  zip.addBuffer(Buffer.from(`${JSON.stringify({ type: "module" }, null, 2)}\n`), "app/package.json", {
    mtime: new Date(0),
  });
  addTree(zip, dist, "app", (f) => f.endsWith(".js"));
  // Nested packages are listed too; adding each folder's own files (not its node_modules) avoids duplicates.
  for (const pkg of productionPackages()) {
    addTree(
      zip,
      path.join(root, pkg),
      pkg,
      (f) => !path.relative(path.join(root, pkg), f).includes("node_modules"),
    );
  }
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream
      .pipe(createWriteStream(out))
      .on("close", () => resolve())
      .on("error", reject);
  });
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = await packageFunction();
  console.log(`wrote ${path.relative(root, out)} (${(statSync(out).size / 1e6).toFixed(1)} MB)`);
}
