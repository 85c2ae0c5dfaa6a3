// npm run build: type declarations from tsc, and the JavaScript bundled by esbuild. One bundle per entry point
// (cli, handler, run) with shared chunks: a command that loads one file instead of thirty starts in about half
// the time, which a FunctionGraph cold start and every short run feel. The cloud SDKs stay in lazily loaded
// chunks and node_modules stays external (but for two small packages, see `external`). Then the compact ASN table
// (scripts/build-geo-data.ts) goes to dist/data/: derived from the pinned package's CSVs, it loads in milliseconds
// where parsing the CSVs takes a second.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { cleanBuild } from "./cleanBuild.mjs";
import { thirdPartyNotices } from "./thirdPartyNotices.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
/** Dependencies bundled into dist (see the comment at `external`); every other one is imported from node_modules. */
const BUNDLED = ["ipaddr.js", "mmdb-lib"];
cleanBuild(path.join(root, "dist"));
execFileSync(
  process.execPath,
  [
    path.join(root, "node_modules", "typescript", "bin", "tsc"),
    "-p",
    "tsconfig.build.json",
    "--emitDeclarationOnly",
  ],
  {
    cwd: root,
    stdio: "inherit",
  },
);
const built = await build({
  absWorkingDir: root,
  entryPoints: ["src/cli.ts", "src/handler.ts", "src/run.ts"],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // node_modules stays external but for two small CommonJS packages every scan loads: Node would run its
  // CommonJS export lexer over them at each start, and that lexer's one large function gets hot enough for V8 to
  // optimise it twice on a helper thread (about 100 ms of CPU per run, measured with --trace-opt, taken from the
  // cores the scan shares with zlib's pool). Bundled, they are plain code in the chunk.
  external: Object.keys(pkg.dependencies).filter((name) => !BUNDLED.includes(name)),
  sourcemap: true,
  logLevel: "warning",
  metafile: true,
});
// Only the packages named in BUNDLED may be in dist: another one would come in silently (a devDependency, a
// transitive one imported by name) and be loaded from dist, not from the installed version.
const bundled = new Set(
  Object.keys(built.metafile.inputs)
    .map((input) => /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1])
    .filter((name) => name !== undefined),
);
const unexpected = [...bundled].filter((name) => !BUNDLED.includes(name));
if (unexpected.length > 0)
  throw new Error(
    `scripts/build.mjs: ${unexpected.join(", ")} would be bundled into dist: list it in package.json dependencies (imported from node_modules) or in BUNDLED`,
  );
// dist/ is what npm publishes: the bundled packages' licences go with their code.
writeFileSync(
  path.join(root, "dist", "THIRD-PARTY-NOTICES.txt"),
  thirdPartyNotices(root, built.metafile, "dist/"),
);
// Through tsx: the table's writer is the TypeScript reader's own class (src/enrich/AsnTable.ts), one format in one
// place.
execFileSync(
  process.execPath,
  ["--import", "tsx", path.join(root, "scripts", "build-geo-data.ts"), path.join(root, "dist", "data")],
  { cwd: root, stdio: "inherit" },
);
