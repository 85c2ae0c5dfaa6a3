/**
 * The default number of objects in flight depends on where the objects are: a local scan is bound by CPU, an OBS
 * backfill by round trips (chosen by `npm run bench`, OBS rows). An explicit --concurrency always wins.
 */
import { describe, expect, it } from "vitest";
import { parseCli } from "../src/config.js";

const env = { OBS_ENDPOINT: "http://127.0.0.1:9", HUAWEICLOUD_SDK_AK: "ak", HUAWEICLOUD_SDK_SK: "sk" };

describe("--concurrency default", () => {
  it.each([
    { args: ["scan", "dir"], expected: 8 },
    { args: ["verify", "a", "b"], expected: 8 },
    { args: ["scan", "obs://bucket/CloudTraces/"], expected: 32 },
    { args: ["scan", "dir", "obs://bucket/CloudTraces/"], expected: 32 },
    { args: ["scan", "obs://bucket", "--concurrency", "4"], expected: 4 },
    { args: ["scan", "dir", "--concurrency", "64"], expected: 64 },
    // The ledger in OBS does not make the scan's objects remote.
    { args: ["scan", "dir", "--state", "obs://bucket/state/"], expected: 8 },
  ])("$args -> $expected", ({ args, expected }) => {
    const r = parseCli(args, env);
    if (r.kind !== "run") throw new Error("not a run");
    expect(r.config.concurrency).toBe(expected);
  });
});
