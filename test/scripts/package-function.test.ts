import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CODE_ZIP_BUDGET_BYTES,
  FUNCTION_DIR,
  FUNCTION_ZIPS,
  packageFunction,
  type BuiltZip,
} from "../../scripts/package-function.js";
import { FunctionScenario, unzip } from "../support/functionZip.js";
import { makeTrace } from "../support/ctsBucket.js";
import { tempDir } from "../support/harness.js";

let scenario: FunctionScenario;
let code: BuiltZip;
let app: string;
let names: string[];
beforeAll(async () => {
  scenario = await FunctionScenario.start();
  const dir = tempDir();
  const built = await packageFunction(dir);
  code = built.get("cts-audit-function.zip")!;
  app = path.join(dir, "app-root");
  names = await unzip(code.path, app);
}, 60_000);
afterAll(() => scenario?.stop());

describe("npm run package", () => {
  it("writes into dist-function/, which no build cleans, the code zip first", () => {
    expect(FUNCTION_DIR).toMatch(/[/\\]dist-function$/);
    expect(FUNCTION_ZIPS[0]!.file).toBe("cts-audit-function.zip");
    expect(code.entries).toEqual(names);
  });

  it("holds the bundled handler, its package.json and the licences, and nothing else", () => {
    expect(names).toEqual(["index.js", "package.json", "THIRD-PARTY-NOTICES.txt"]);
    expect(code.bytes).toBeLessThanOrEqual(CODE_ZIP_BUDGET_BYTES);
    const pkg = JSON.parse(readFileSync(path.join(app, "package.json"), "utf8")) as { type?: string };
    expect(pkg.type).toBeUndefined();
    // Every bundled package is named in the notices, with its licence: what the function ships is what it loads.
    const notices = readFileSync(path.join(app, "THIRD-PARTY-NOTICES.txt"), "utf8");
    const bundled = [...notices.matchAll(/^(\S+)@[^@\s]+ \(/gm)].map((m) => m[1]!);
    expect(bundled).toEqual(
      expect.arrayContaining(["esdk-obs-nodejs", "stream-json", "ipaddr.js", "p-limit"]),
    );
    // The command line's progress bar, the SDK core and its tree, and the local ledger's database stay out.
    for (const absent of [
      "cli-progress",
      "@huaweicloud/huaweicloud-sdk-core",
      "moment",
      "lodash",
      "axios",
      "lmdb",
    ])
      expect(bundled).not.toContain(absent);
    const bundle = readFileSync(path.join(app, "index.js"), "utf8");
    for (const absent of ["cli-progress", "SingleBar", "huaweicloud-sdk-core"])
      expect(bundle.includes(absent), absent).toBe(false);
  });

  it("unpacked, runs in a clean process as FunctionGraph does: one new trace file in OBS, one digest by SMN", async () => {
    const before = scenario.smn.published.length;
    const { result } = await scenario.runUnpacked(app);
    expect(result.ok).toBe(true);
    expect(result.runs).toHaveLength(1);
    expect(result.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 1, failed: 0 } });
    const sent = scenario.smn.published.slice(before);
    expect(sent).toHaveLength(1);
    expect(sent[0]!.headers["x-security-token"]).toBe("temporary-security-token-of-the-agency");
    expect(sent[0]!.body.message_structure).toContain("203.0.113.77");
  }, 60_000);

  it("unpacked, takes the sample's CTS trigger event", async () => {
    const before = scenario.smn.published.length;
    const event = {
      cts: makeTrace({
        traceName: "logout",
        sourceIp: "198.51.100.9",
        time: new Date("2024-07-19T05:00:00Z"),
      }),
    };
    const { result } = await scenario.runUnpacked(app, event);
    expect(result.ok).toBe(true);
    expect(result.runs[0]!.summary.alerts).toBe(1);
    expect(scenario.smn.published.slice(before)).toHaveLength(1);
  }, 60_000);

  it("makes the same zip from the same sources", async () => {
    const again = (await packageFunction(tempDir())).get("cts-audit-function.zip")!;
    expect(readFileSync(again.path).equals(readFileSync(code.path))).toBe(true);
  }, 60_000);
});
