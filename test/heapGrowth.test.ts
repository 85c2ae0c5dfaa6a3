import { describe, expect, it } from "vitest";
import { boundHeapGrowth, HEAP_GROWING_PERCENT } from "../src/heapGrowth.js";

describe("boundHeapGrowth", () => {
  it.each([
    ["no setting of the user's", [], "", `--heap-growing-percent=${HEAP_GROWING_PERCENT}`],
    [
      "other flags only",
      ["--enable-source-maps"],
      "--max-old-space-size=512",
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    ],
    ["the user's on the command line", ["--heap-growing-percent=80"], "", undefined],
    ["the user's in NODE_OPTIONS", [], "--max-old-space-size=512 --heap_growing_percent=10", undefined],
  ])("%s: sets %s", (_name, execArgv, nodeOptions, want) => {
    const set: string[] = [];
    expect(boundHeapGrowth(execArgv, nodeOptions, (f) => set.push(f))).toBe(want);
    expect(set).toEqual(want ? [want] : []);
  });
});
