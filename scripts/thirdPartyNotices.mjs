// The licence text of every package esbuild put into a bundle: MIT and Apache-2.0 ask for it to go along with
// their code. Used by `npm run build` (dist/, which npm publishes) and `npm run package` (the function zip).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/**
 * The notices for the packages a build bundled, read from `metafile`'s inputs under `root`'s node_modules.
 * @param {string} root the project's root (esbuild's absWorkingDir)
 * @param {{ inputs: Record<string, unknown> }} metafile esbuild's metafile of the build
 * @param {string} bundled what the packages went into, named in the first line
 * @returns {string}
 */
export function thirdPartyNotices(root, metafile, bundled) {
  const packages = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]);
  }
  const parts = [`Packages bundled into ${bundled}, with their licences.\n`];
  for (const dir of [...packages].sort()) {
    const full = path.join(root, dir);
    const pkg = JSON.parse(readFileSync(path.join(full, "package.json"), "utf8"));
    const file = readdirSync(full).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
    const text = file
      ? readFileSync(path.join(full, file), "utf8").trim()
      : "(no licence file in the package)";
    parts.push(
      `${"=".repeat(78)}\n${pkg.name}@${pkg.version} (${pkg.license ?? "licence not stated"})\n\n${text}\n`,
    );
  }
  return parts.join("\n");
}
