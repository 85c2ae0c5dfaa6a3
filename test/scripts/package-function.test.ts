import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
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

const require = createRequire(import.meta.url);

let scenario: FunctionScenario;
let code: BuiltZip;
let app: string;
let names: string[];
let data: BuiltZip;
let built: Map<string, BuiltZip>;
beforeAll(async () => {
  scenario = await FunctionScenario.start();
  const dir = tempDir();
  built = await packageFunction(dir);
  code = built.get("cts-audit-function.zip")!;
  data = built.get("cts-audit-geo-data.zip")!;
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

  it.each([
    [
      "a rules file turning ip-not-allowed off: no alert",
      "rules:\n  ip-not-allowed:\n    enabled: false\n",
      true,
      0,
    ],
    [
      "a bad rules file: a configuration error, no run",
      "rules:\n  brute-force:\n    threshold: one\n",
      false,
      -1,
    ],
  ] as const)(
    "unpacked, reads CTS_AUDIT_RULES with the parser it loads on demand: %s",
    async (_what, text, ok, alerts) => {
      const file = path.join(tempDir(), "rules.yaml");
      writeFileSync(file, text);
      const { result } = await scenario.runUnpacked(app, undefined, process.execPath, {
        CTS_AUDIT_RULES: file,
      });
      expect(result.ok).toBe(ok);
      if (alerts >= 0) expect(result.runs[0]).toMatchObject({ summary: { alerts, failed: 0 } });
      else expect(result.runs ?? []).toHaveLength(0);
    },
    60_000,
  );

  it("makes the same zips from the same sources", async () => {
    const again = await packageFunction(tempDir());
    for (const [file, zip] of built)
      expect(readFileSync(again.get(file)!.path).equals(readFileSync(zip.path)), file).toBe(true);
  }, 60_000);

  /** A login from Yandex's resolver (RU, AS13238) by the CTS trigger: the digest shows its place when enriched. */
  const yandexLogin = {
    cts: makeTrace({
      traceName: "login",
      sourceIp: "77.88.8.8",
      time: new Date("2024-07-19T05:00:00Z"),
      user: "alice",
    }),
  };

  it("writes the data zip: the country .mmdb and the compact ASN table, named by version, and their licences", () => {
    const version = (
      JSON.parse(readFileSync(require.resolve("@ip-location-db/asn/package.json"), "utf8")) as {
        version: string;
      }
    ).version;
    expect(FUNCTION_ZIPS.map((z) => z.file)).toEqual(["cts-audit-function.zip", "cts-audit-geo-data.zip"]);
    expect(data.entries).toEqual([
      `cts-audit-data/geo-whois-asn-country-${version}.mmdb`,
      `cts-audit-data/asn-${version}.bin`,
      "cts-audit-data/LICENSES.txt",
    ]);
    // The compact table, not the CSVs: about 9 MB zipped where the .mmdb and the CSVs took 15.
    expect(data.bytes).toBeLessThan(12_000_000);
  });

  it.each([
    {
      name: "merged with the code, as FunctionGraph merges a dependency (found beside index.js)",
      merged: true,
    },
    { name: "elsewhere, named by CTS_AUDIT_GEO_DB and CTS_AUDIT_ASN_DB", merged: false },
  ])(
    "unpacked with the data zip $name, enriches the alert",
    async ({ merged }) => {
      const root = tempDir();
      const codeDir = path.join(root, "code");
      await unzip(code.path, codeDir);
      const dataDir = merged ? codeDir : path.join(root, "opt-data");
      const entries = await unzip(data.path, dataDir);
      const variables: Record<string, string> = merged
        ? {}
        : {
            CTS_AUDIT_GEO_DB: path.join(
              dataDir,
              entries.find((e) => e.endsWith(".mmdb"))!,
            ),
            CTS_AUDIT_ASN_DB: path.join(
              dataDir,
              entries.find((e) => e.endsWith(".bin"))!,
            ),
          };
      const before = scenario.smn.published.length;
      const { result } = await scenario.runUnpacked(codeDir, yandexLogin, process.execPath, variables);
      expect(result.ok).toBe(true);
      expect(result.runs[0]!.summary.alerts).toBe(1);
      const sent = scenario.smn.published.slice(before);
      expect(sent).toHaveLength(1);
      expect(JSON.stringify(sent[0]!.body)).toContain("77.88.8.8 (RU, AS13238 YANDEX LLC)");
    },
    60_000,
  );

  it("unpacked without the data zip, says the alert has no data rather than guessing", async () => {
    const before = scenario.smn.published.length;
    const { result } = await scenario.runUnpacked(app, yandexLogin);
    expect(result.ok).toBe(true);
    const body = JSON.stringify(scenario.smn.published.slice(before)[0]!.body);
    expect(body).toContain("77.88.8.8");
    expect(body).not.toContain("AS13238");
  }, 60_000);
});
