/**
 * `--fan-out` on the command line: the defaults, and every bad value or missing piece as a problem naming the option
 * and the fix (exit 2 through ConfigError).
 */
import { describe, expect, it } from "vitest";
import { DEFAULT_FAN_OUT_CONCURRENCY, parseCli } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { FAN_OUT_DEFAULTS } from "../../src/fanout/Coordinator.js";

const URN = "urn:fss:ap-southeast-1:0a1b2c3d4e5f60718293a4b5c6d7e8f9:function:default:cts-audit:latest";
const ENV = {
  HUAWEICLOUD_SDK_AK: "AK",
  HUAWEICLOUD_SDK_SK: "SK",
  HUAWEICLOUD_SDK_PROJECT_ID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
  RegionName: "ap-southeast-1",
};
const SCAN = ["scan", "obs://org-trail/CloudTraces/"];
const STATE = ["--state", "obs://org-state/ledger"];

function problems(args: string[], env: Record<string, string> = ENV): string[] {
  try {
    parseCli(args, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

function fanOut(args: string[], env: Record<string, string> = ENV) {
  const r = parseCli(args, env);
  if (r.kind !== "run") throw new Error("not a run");
  return r.config.fanOut;
}

describe("--fan-out options", () => {
  it("defaults the concurrency and the endpoint from the region", () => {
    expect(fanOut([...SCAN, ...STATE, "--fan-out", URN])).toEqual({
      functionUrn: URN,
      concurrency: DEFAULT_FAN_OUT_CONCURRENCY,
      endpoint: "https://functiongraph.ap-southeast-1.myhuaweicloud.com",
    });
    expect(DEFAULT_FAN_OUT_CONCURRENCY).toBe(20);
    expect(fanOut([...SCAN, ...STATE])).toBeUndefined();
  });

  it.each([
    ["1", 1],
    ["5000", 5000],
    ["10000000", 10_000_000],
  ])("takes --fan-out-shard-objects %s; the coordinator's default (10,000) without it", (value, expected) => {
    expect(
      fanOut([...SCAN, ...STATE, "--fan-out", URN, "--fan-out-shard-objects", value])?.shardObjects,
    ).toBe(expected);
    expect(fanOut([...SCAN, ...STATE, "--fan-out", URN])?.shardObjects).toBeUndefined();
    expect(FAN_OUT_DEFAULTS.shardObjects).toBe(10_000);
  });

  it.each([
    ["the option", ["--functiongraph-endpoint", "http://127.0.0.1:9"], {}, "http://127.0.0.1:9"],
    ["the environment", [], { FUNCTIONGRAPH_ENDPOINT: "https://fg.example" }, "https://fg.example"],
    [
      "the option over the environment",
      ["--functiongraph-endpoint", "https://a.example"],
      { FUNCTIONGRAPH_ENDPOINT: "https://b.example" },
      "https://a.example",
    ],
  ])("takes the endpoint from %s", (_what, args, env, endpoint) => {
    expect(
      fanOut([...SCAN, ...STATE, "--fan-out", URN, "--fan-out-concurrency", "7", ...args], {
        ...ENV,
        ...env,
      }),
    ).toEqual({ functionUrn: URN, concurrency: 7, endpoint });
  });

  it.each([
    ["no --state", [...SCAN, "--fan-out", URN], ENV, /^--state: .*obs:\/\/bucket\/prefix/],
    [
      "a local --state",
      [...SCAN, "--fan-out", URN, "--state", "ledger.json"],
      ENV,
      /^--state: .*\(not ledger\.json\)/,
    ],
    [
      "a state from the environment that is not obs://",
      [...SCAN, "--fan-out", URN],
      { ...ENV, CTS_AUDIT_STATE: "/var/lib/cts" },
      /^--state: .*\(not \/var\/lib\/cts\)/,
    ],
    [
      "a URN that is a name",
      [...SCAN, ...STATE, "--fan-out", "cts-audit"],
      ENV,
      /^--fan-out: "cts-audit" is not a function URN/,
    ],
    [
      "an SMN URN",
      [...SCAN, ...STATE, "--fan-out", "urn:smn:ap-southeast-1:0a1b2c3d4e5f60718293a4b5c6d7e8f9:topic"],
      ENV,
      /^--fan-out: .* is not a function URN: write urn:fss:/,
    ],
    ["no URN", [...SCAN, ...STATE, "--fan-out"], ENV, /^--fan-out needs a value/],
    [
      "concurrency 0",
      [...SCAN, ...STATE, "--fan-out", URN, "--fan-out-concurrency", "0"],
      ENV,
      /^--fan-out-concurrency: "0" must be/,
    ],
    [
      "concurrency 101",
      [...SCAN, ...STATE, "--fan-out", URN, "--fan-out-concurrency", "101"],
      ENV,
      /^--fan-out-concurrency: "101" must be/,
    ],
    [
      "concurrency 2.5",
      [...SCAN, ...STATE, "--fan-out", URN, "--fan-out-concurrency", "2.5"],
      ENV,
      /^--fan-out-concurrency: "2.5" must be/,
    ],
    [
      "concurrency ten",
      [...SCAN, ...STATE, "--fan-out", URN, "--fan-out-concurrency", "ten"],
      ENV,
      /^--fan-out-concurrency: "ten" must be/,
    ],
    [
      "concurrency without --fan-out",
      [...SCAN, ...STATE, "--fan-out-concurrency", "5"],
      ENV,
      /^--fan-out-concurrency applies only with --fan-out/,
    ],
    [
      "an endpoint without --fan-out",
      [...SCAN, ...STATE, "--functiongraph-endpoint", "https://fg.example"],
      ENV,
      /^--functiongraph-endpoint applies only with --fan-out/,
    ],
    [
      "an endpoint that is not a URL",
      [...SCAN, ...STATE, "--fan-out", URN, "--functiongraph-endpoint", "functiongraph.example"],
      ENV,
      /^--functiongraph-endpoint \(env FUNCTIONGRAPH_ENDPOINT\): "functiongraph\.example" is not an http\(s\) URL/,
    ],
    [
      "an endpoint in the environment that is not a URL",
      [...SCAN, ...STATE, "--fan-out", URN],
      { ...ENV, FUNCTIONGRAPH_ENDPOINT: "ftp://fg.example" },
      /^--functiongraph-endpoint \(env FUNCTIONGRAPH_ENDPOINT\): "ftp:\/\/fg\.example"/,
    ],
    [
      "no region and no endpoint",
      [...SCAN, ...STATE, "--fan-out", URN, "--obs-endpoint", "http://127.0.0.1:9"],
      { ...ENV, RegionName: "" },
      /^--fan-out needs the FunctionGraph endpoint: set --functiongraph-endpoint, FUNCTIONGRAPH_ENDPOINT, or --region/,
    ],
    [
      "a local source",
      ["scan", "fixtures/sample-bucket", ...STATE, "--fan-out", URN],
      ENV,
      /^<source> fixtures\/sample-bucket: --fan-out reads its sources in the function: give obs:\/\//,
    ],
    [
      "no project",
      [...SCAN, ...STATE, "--fan-out", URN],
      { ...ENV, HUAWEICLOUD_SDK_PROJECT_ID: "" },
      /^--fan-out needs the project for the invocation: set HUAWEICLOUD_SDK_PROJECT_ID/,
    ],
  ])("rejects %s, naming the option", (_what, args, env, expected) => {
    const found = problems(args, env);
    expect(
      found.some((p) => expected.test(p)),
      found.join("\n"),
    ).toBe(true);
  });

  it("rejects an empty --fan-out-shard-objects as an empty value, naming the option", () => {
    expect(problems([...SCAN, ...STATE, "--fan-out", URN, "--fan-out-shard-objects", ""])).toContain(
      "--fan-out-shard-objects has an empty value: write --fan-out-shard-objects 10000, or leave the option out",
    );
  });

  it.each(["0", "-5", "2.5", "ten", "1e4", "10000001"])(
    "rejects --fan-out-shard-objects %j, naming the option and the range",
    (value) => {
      const found = problems([...SCAN, ...STATE, "--fan-out", URN, "--fan-out-shard-objects", value]);
      expect(
        found.filter((p) =>
          p.startsWith(`--fan-out-shard-objects: "${value}" must be a whole number from 1`),
        ),
        found.join("\n"),
      ).toHaveLength(1);
    },
  );

  it("rejects --fan-out-shard-objects without --fan-out", () => {
    expect(problems([...SCAN, ...STATE, "--fan-out-shard-objects", "5000"])).toContain(
      "--fan-out-shard-objects applies only with --fan-out <function-urn>: add --fan-out or drop it",
    );
  });
});
