/**
 * What a run loads: the rules parser (yaml, zod) only when a rules file is given. It is about 60 ms of every run's
 * start and 4 MB of heap kept to the end (src/detect/rulesParser.ts).
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cliPath, root } from "./support/cli.js";
import { tempDir } from "./support/harness.js";

function importsOf(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; imported: string[] }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ["--import", path.join(root, "test", "support", "recordImports.mjs"), cliPath, ...args],
      { env: { PATH: process.env.PATH ?? "", ...env } },
      (err, _stdout, stderr) => {
        const line = /^IMPORTED (.*)$/m.exec(stderr)?.[1] ?? "";
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, imported: line.split(",") });
      },
    ),
  );
}

const scan = (dir: string) => [
  "scan",
  dir,
  "--notify",
  "none",
  "--public-key",
  path.join(root, "fixtures", "keys", "test-public.pem"),
];
const rulesFile = path.join(root, "fixtures", "rules.example.yaml");

describe("what a run loads", () => {
  it("a scan without a rules file loads neither yaml nor zod", async () => {
    // With a ledger, so that the run imports a package from node_modules (lmdb) for the hook to see: the packages
    // every scan needs are bundled into dist (scripts/build.mjs).
    const r = await importsOf([...scan(tempDir()), "--state", path.join(tempDir(), "state")]);
    expect(r.code).toBe(0);
    expect(r.imported).toContain("lmdb"); // the hook saw the run's packages
    expect(r.imported).not.toContain("yaml");
    expect(r.imported).not.toContain("zod");
  });

  it.each([
    ["--rules", [...scan("DIR"), "--rules", rulesFile], {}],
    ["--rules=", [...scan("DIR"), `--rules=${rulesFile}`], {}],
    ["CTS_AUDIT_RULES", scan("DIR"), { CTS_AUDIT_RULES: rulesFile }],
  ] as const)("a rules file given by %s is read, with the parser loaded for it", async (_how, args, env) => {
    const dir = tempDir();
    const r = await importsOf(
      args.map((a) => (a === "DIR" ? dir : a)),
      env,
    );
    expect(r.code).toBe(0);
    expect(r.imported).toEqual(expect.arrayContaining(["yaml", "zod"]));
  });

  it("a bad rules file is still a configuration error naming it (exit 2)", async () => {
    const dir = tempDir();
    const bad = path.join(tempDir(), "rules.yaml");
    (await import("node:fs")).writeFileSync(bad, "rules:\n  brute-force:\n    threshold: one\n");
    const r = await importsOf([...scan(dir), "--rules", bad]);
    expect(r.code).toBe(2);
  });
});
