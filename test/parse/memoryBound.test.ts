import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { MAX_ELEMENT_BYTES } from "../../src/parse/TraceArraySplitter.js";

const script = fileURLToPath(new URL("./support/measureReader.ts", import.meta.url));

/** What the reader held at most (after a full GC, at each pull of the input and each trace handed out). */
async function measure(shape: string, megabytes: number) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--expose-gc", "--import", "tsx", script, shape, String(megabytes)],
    { maxBuffer: 1024 * 1024 },
  );
  return JSON.parse(stdout) as {
    heldBytes: number;
    logins: string[];
    error?: { code: string; message: string };
    oversized?: { count: number; elements: Array<{ index: number; offset: number; bytes: number }> };
    traces: number;
  };
}

const MB = 1024 * 1024;

describe("memory the reader holds is bounded by the element cap, not by the input", () => {
  it("drops whitespace before the top-level array instead of buffering it (160 MB of it)", async () => {
    const m = await measure("whitespace", 160);
    expect(m.error).toBeUndefined();
    expect(m.logins).toEqual(["after"]);
    expect(m.heldBytes).toBeLessThan(16 * MB);
  }, 120_000);

  it.each([
    // [shape, index of the big element, its content offset]
    ["array", 0, 1],
    ["traces", 0, '{"traces":['.length],
    ["ndjson", 0, 0],
  ])(
    "skips a 160 MB element of shape %s, names it, reads the login after it, holds at most about the cap",
    async (shape, index, offset) => {
      const m = await measure(shape, 160);
      expect(m.logins).toEqual(["after"]);
      expect(m.traces).toBe(2);
      const size = 160 * MB + '{"trace_id":"big","trace_name":"login","pad":""}'.length;
      expect(m.oversized).toEqual({ count: 1, elements: [{ index, offset, bytes: size }] });
      expect(m.error?.code).toBe("OVERSIZED");
      expect(m.error?.message).toContain(`element ${index} at byte ${offset}: ${size} bytes`);
      expect(m.heldBytes).toBeLessThan(MAX_ELEMENT_BYTES + 24 * MB);
    },
    120_000,
  );
});
