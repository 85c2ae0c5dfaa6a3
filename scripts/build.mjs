// npm run build: type declarations from tsc, and the JavaScript bundled by esbuild. One bundle per entry point
// (cli, handler, run) with shared chunks: a command that loads one file instead of thirty starts in about half
// the time, which a FunctionGraph cold start and every short run feel. The cloud SDKs stay in lazily loaded
// chunks and node_modules stays external. Then the compact ASN table (scripts/build-geo-data.ts) goes to dist/data/:
// derived from the pinned package's CSVs, it loads in milliseconds where parsing the CSVs takes a second.
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { cleanBuild } from "./cleanBuild.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
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
await build({
  absWorkingDir: root,
  entryPoints: ["src/cli.ts", "src/handler.ts", "src/run.ts"],
  outdir: "dist",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  sourcemap: true,
  logLevel: "warning",
});
// Through tsx: the table's writer is the TypeScript reader's own class (src/enrich/AsnTable.ts), one format in one
// place.
execFileSync(
  process.execPath,
  ["--import", "tsx", path.join(root, "scripts", "build-geo-data.ts"), path.join(root, "dist", "data")],
  { cwd: root, stdio: "inherit" },
);
