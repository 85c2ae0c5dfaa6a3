// What `npm run build` writes into dist/: esbuild's bundles and chunks with their source maps, and tsc's
// declarations. Only those are removed before a build (stale chunks carry hashed names and would pile up);
// anything else a user keeps in dist/ stays, and the function zips live in dist-function/, which no build touches.
import { existsSync, readdirSync, rmdirSync, rmSync } from "node:fs";
import path from "node:path";

const BUILT = /\.(js|js\.map|d\.ts|d\.ts\.map)$/;

/**
 * Removes the build's own outputs under `dir` (and folders they leave empty); returns how many files went.
 * @param {string} dir
 * @returns {number}
 */
export function cleanBuild(dir) {
  if (!existsSync(dir)) return 0;
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      removed += cleanBuild(full);
      if (readdirSync(full).length === 0) rmdirSync(full);
    } else if (BUILT.test(entry.name)) {
      rmSync(full);
      removed++;
    }
  }
  return removed;
}
