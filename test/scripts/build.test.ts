import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..", "..");
const dist = path.join(root, "dist");

/** The packages whose code is in dist/, read from the source maps (independent of the build's metafile). */
function packagesInDist(): Set<string> {
  const found = new Set<string>();
  for (const file of readdirSync(dist).filter((f) => f.endsWith(".js.map"))) {
    const map = JSON.parse(readFileSync(path.join(dist, file), "utf8")) as { sources: string[] };
    for (const source of map.sources) {
      const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source);
      if (m) found.add(m[1]!);
    }
  }
  return found;
}

describe("npm run build", () => {
  // npm publishes dist/: MIT and Apache-2.0 code bundled into it must carry its licence (pretest builds dist).
  it("writes the licence of every package bundled into dist/, and of no other", () => {
    const notices = readFileSync(path.join(dist, "THIRD-PARTY-NOTICES.txt"), "utf8");
    const named = [...notices.matchAll(/^(\S+)@[^@\s]+ \(/gm)].map((m) => m[1]!);
    const bundled = packagesInDist();
    expect(bundled.size).toBeGreaterThan(0);
    expect(new Set(named)).toEqual(bundled);
    for (const name of bundled) {
      const dir = path.join(root, "node_modules", name);
      const licence = readdirSync(dir).find((f) => /^licen[cs]e/i.test(f))!;
      expect(notices).toContain(readFileSync(path.join(dir, licence), "utf8").trim());
    }
  });
});
