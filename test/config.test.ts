import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseCli, parseTime } from "../src/config.js";
import { ConfigError } from "../src/errors.js";
import { tempDir } from "./support/harness.js";

function problems(args: string[], env: Record<string, string> = {}): string[] {
  try {
    parseCli(args, env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

function config(args: string[], env: Record<string, string> = {}) {
  const r = parseCli(args, env);
  if (r.kind !== "run") throw new Error("not a run");
  return r.config;
}

describe("parseCli", () => {
  it("applies the documented defaults", () => {
    const c = config(["scan", "dir"]);
    expect(c).toMatchObject({
      command: "scan",
      sources: ["dir"],
      events: ["login", "logout", "loginFailed"],
      verify: "warn",
      notify: { kind: "stdout" },
      format: "text",
      concurrency: 8,
      dryRun: false,
      state: undefined,
    });
    expect(config(["scan", "dir", "--format", "json"]).notify).toEqual({ kind: "none" });
    expect(config(["verify", "dir"]).verify).toBe("require");
  });

  it("takes the allowlist from --allow (repeatable), else CTS_AUDIT_ALLOW, else IP", () => {
    expect(
      config(["scan", "d", "--allow", "10.0.0.1,10.0.0.2", "--allow", "2001:db8::/32"], { IP: "1.1.1.1" })
        .allowList.entries,
    ).toEqual(["10.0.0.1", "10.0.0.2", "2001:db8::/32"]);
    expect(config(["scan", "d"], { CTS_AUDIT_ALLOW: "10.0.0.0/8", IP: "1.1.1.1" }).allowList.entries).toEqual(
      ["10.0.0.0/8"],
    );
    expect(config(["scan", "d"], { IP: "1.1.1.1 2.2.2.2" }).allowList.entries).toEqual([
      "1.1.1.1",
      "2.2.2.2",
    ]);
  });

  it("reads --allow-file with comments and names the line of a bad entry", () => {
    const dir = tempDir();
    const file = path.join(dir, "allow.txt");
    writeFileSync(file, "# office\n192.0.2.0/24  # v4\n\n2001:db8::/48\nnot-an-ip\n");
    expect(problems(["scan", "d", "--allow-file", file])).toEqual([
      expect.stringContaining(`--allow-file ${file}:5: invalid allowlist entry "not-an-ip"`),
    ]);
    writeFileSync(file, "# office\n192.0.2.0/24  # v4\n");
    expect(config(["scan", "d", "--allow-file", file]).allowList.entries).toEqual(["192.0.2.0/24"]);
  });

  it.each([
    [["scan"], /missing <source>/],
    [[], /missing command/],
    [["audit", "d"], /unknown command "audit"/],
    [["scan", "d", "--verify", "maybe"], /--verify: "maybe" is not one of off, warn, require/],
    [["scan", "d", "--format", "xml"], /--format: "xml" is not one of text, json, ndjson/],
    [["scan", "d", "--notify", "email"], /--notify: "email" is not one of none, stdout, smn, file:PATH/],
    [
      ["scan", "d", "--format", "json", "--notify", "stdout"],
      /--notify stdout: stdout carries the json report/,
    ],
    [["scan", "d", "--since", "yesterday"], /--since: "yesterday" is neither ISO-8601/],
    [["scan", "d", "--since", "1h", "--until", "2h"], /--since must be before --until/],
    [["scan", "d", "--concurrency", "0"], /--concurrency: "0" must be a whole number/],
    [["scan", "d", "--allow", "10.0.0.300"], /--allow: invalid allowlist entry "10.0.0.300"/],
    [["scan", "d", "--events", "login,bad name"], /--events: "bad name" is not a CTS trace name/],
    [["scan", "d", "--public-key", "/nonexistent.pem"], /--public-key: cannot read public key file/],
    [["scan", "d", "--max-decompressed-bytes", "lots"], /--max-decompressed-bytes: "lots" must be a size/],
    [["scan", "d", "--bogus"], /Unknown option '--bogus'.*--help/],
  ])("%j is a usage error: %s", (args, pattern) => {
    const found = problems(args);
    expect(found.join("\n")).toMatch(pattern);
  });

  it("reports every problem at once", () => {
    expect(problems(["scan", "d", "--verify", "x", "--format", "y", "--allow", "z"])).toHaveLength(3);
  });

  it("names the env variable for a bad env allowlist", () => {
    expect(problems(["scan", "d"], { IP: "10.0.0.1, nonsense" })).toEqual([
      expect.stringContaining('env IP: invalid allowlist entry "nonsense"'),
    ]);
  });
});

describe("parseTime", () => {
  const now = new Date("2024-07-19T12:00:00Z");
  it.each([
    ["24h", "2024-07-18T12:00:00.000Z"],
    ["7d", "2024-07-12T12:00:00.000Z"],
    ["30m", "2024-07-19T11:30:00.000Z"],
    ["1w", "2024-07-12T12:00:00.000Z"],
    ["2024-07-01T00:00:00Z", "2024-07-01T00:00:00.000Z"],
    ["2024-07-01", "2024-07-01T00:00:00.000Z"],
  ])("%s", (text, want) => {
    expect(parseTime(text, now)?.toISOString()).toBe(want);
  });
  it.each([["yesterday"], ["24"], ["h"], ["2024-13-45"]])("rejects %s", (text) => {
    expect(parseTime(text, now)).toBeUndefined();
  });
});
