import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

interface Locked {
  version?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
}
const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as {
  lockfileVersion: number;
  packages: Record<string, Locked>;
};
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Where Node (and npm ci) would find `name` from the package at `from`: its own node_modules, then its parents'. */
function resolve(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ""}node_modules/${name}`;
    if (lock.packages[candidate]) return candidate;
    if (!dir) return undefined;
    const up = dir.lastIndexOf("/node_modules/");
    dir = up < 0 ? "" : dir.slice(0, up);
  }
}

describe("package-lock.json", () => {
  it("locks every optional dependency of every package, for every platform (npm ci on Linux, macOS, Windows)", () => {
    // npm's bug: a lockfile written with node_modules present keeps only this machine's platform packages; npm 11's
    // ci then fails with "Missing: @rollup/rollup-... from lock file" and other platforms get no binary.
    const missing: string[] = [];
    for (const [at, entry] of Object.entries(lock.packages)) {
      for (const name of Object.keys(entry.optionalDependencies ?? {}))
        if (!resolve(at, name)) missing.push(`${at || "(root)"} -> ${name}`);
    }
    expect(missing).toEqual([]);
  });

  it.each([
    ["@rollup/rollup-", ["linux", "darwin", "win32"]],
    ["@esbuild/", ["linux", "darwin", "win32"]],
    ["@lmdb/lmdb-", ["linux", "darwin", "win32"]],
  ])("holds %s binaries for %j", (prefix, platforms) => {
    const os = Object.entries(lock.packages)
      .filter(([at]) => at.startsWith(`node_modules/${prefix}`))
      .flatMap(([, e]) => e.os ?? []);
    expect(os).toEqual(expect.arrayContaining(platforms));
  });

  it("locks every entry with a version and an integrity hash", () => {
    const bare = Object.entries(lock.packages)
      .filter(([at, e]) => at !== "" && !(e as { link?: boolean }).link && !(e.version && e.integrity))
      .map(([at]) => at);
    expect(bare).toEqual([]);
  });

  it("matches package.json: the same direct dependencies, in the same groups", () => {
    const rootEntry = lock.packages[""] as Locked & { devDependencies?: Record<string, string> };
    expect(rootEntry.dependencies).toEqual(pkg.dependencies);
    expect(rootEntry.devDependencies).toEqual(pkg.devDependencies);
  });
});
