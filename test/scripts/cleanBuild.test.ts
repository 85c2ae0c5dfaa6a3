import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cleanBuild } from "../../scripts/cleanBuild.mjs";
import { tempDir } from "../support/harness.js";

describe("the build's clean step", () => {
  it("removes only what the build makes in dist/: a user's files (a zip among them) and their folders stay", () => {
    const dist = tempDir();
    const built = [
      "cli.js",
      "cli.js.map",
      "chunk-ABC123.js",
      "handler.d.ts",
      "src/notify/SmnClient.d.ts",
      "src/notify/SmnClient.d.ts.map",
      "src/parse/traceScanner.wasm.d.ts",
    ];
    const kept = [
      "cts-audit-function.zip",
      "notes.txt",
      "reports/2024-07-19.json",
      "src/notify/README.md",
      "keys/public.pem",
    ];
    for (const f of [...built, ...kept]) {
      mkdirSync(path.dirname(path.join(dist, f)), { recursive: true });
      writeFileSync(path.join(dist, f), f);
    }
    expect(cleanBuild(dist)).toBe(built.length);
    for (const f of built) expect(existsSync(path.join(dist, f)), f).toBe(false);
    for (const f of kept) expect(existsSync(path.join(dist, f)), f).toBe(true);
    // A folder the build's files alone filled goes with them.
    expect(existsSync(path.join(dist, "src/parse"))).toBe(false);
  });

  it("does nothing when dist/ does not exist", () => {
    expect(cleanBuild(path.join(tempDir(), "dist"))).toBe(0);
  });
});
