import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
// @ts-expect-error a plain ESM script without types
import { traceScannerModule } from "../../scripts/build-wasm.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("npm run wasm", () => {
  it("the committed module is the assembled traceScanner.wat, byte for byte", async () => {
    const committed = readFileSync(path.join(root, "src", "parse", "traceScanner.wasm.ts"), "utf8");
    expect(await (traceScannerModule as () => Promise<string>)()).toBe(committed);
  });

  it("fails on a .wat file that does not assemble, naming the error", async () => {
    const broken = path.join(tmpdir(), `cts-audit-broken-${process.pid}.wat`);
    writeFileSync(broken, '(module (func (export "scan") (result i32) (i32.add)))');
    await expect((traceScannerModule as (p: string) => Promise<string>)(broken)).rejects.toThrow(
      /type mismatch|expected|error/i,
    );
  });
});
