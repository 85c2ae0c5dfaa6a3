import { spawn, spawnSync } from "node:child_process";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Report } from "../src/report/types.js";
import { tempDir } from "./support/harness.js";

// The built command, exactly as `npm start` and users run it (`npm test` builds first).
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const cli = path.join(root, "dist", "cli.js");
const sample = path.join(root, "fixtures", "sample-bucket");
const keyArgs = ["--public-key", path.join(root, "fixtures", "keys", "test-public.pem")];
const allowArgs = ["--allow-file", path.join(root, "fixtures", "sample-allowlist.txt")];

function cts(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cts-audit command line", () => {
  it("npm start's command prints a digest naming every unauthorized IP of the sample bucket", () => {
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    for (const ip of ["203.0.113.7", "198.51.100.23", "198.51.100.70", "2001:db8:bad::17"]) {
      expect(r.stdout).toContain(`- ${ip} (documentation range)  `);
    }
    // Allowlisted addresses, and ECS traces named login, are never ip-not-allowed (192.0.2.10, 198.51.100.7 and
    // 2001:db8:cafe::12 are the sample's guessing patterns from allowlisted addresses: windowed rules name them).
    const ipSection = r.stdout.slice(
      r.stdout.indexOf("[high] ip-not-allowed"),
      r.stdout.indexOf("[high] password-spray"),
    );
    expect(ipSection).toContain("- 203.0.113.7 (documentation range)  alice");
    for (const ip of ["192.0.2.10", "198.51.100.7 ", "2001:db8:cafe::12", "203.0.113.51"]) {
      expect(ipSection).not.toContain(`- ${ip}`);
    }
    expect(r.stdout).not.toContain("- 203.0.113.51");
    // The worst first: every per-trace rule of issue 14 has an alert in the sample.
    expect(r.stdout).toMatch(
      /^cts-audit: 15 alerts: 2 audit-tamper \(critical\), 1 failures-then-success \(critical\), 1 brute-force \(high\), 8 ip-not-allowed \(high\), 1 password-spray \(high\), 1 login-without-mfa \(medium\), 1 owner-login \(medium\)/,
    );
    expect(r.stdout).toContain("[high] ip-not-allowed: 8 alerts");
    expect(r.stdout).toContain(
      "- 203.0.113.7 (documentation range)  alice (acme): 4 events (login x2, iamUserSsoLoginSuccess, logout)",
    );
    // The sample is a 2024 snapshot: its newest file's digest was due long ago and never came, so the file is
    // unlisted and the chain truncated (it was "pending" for ever before verify failed closed); scan --verify warn
    // reports that without changing the exit code.
    expect(r.stdout).toContain("Integrity: 12/12 digest files valid; trace files: 13 valid, 1 unlisted");
  });

  it("--format json gives the documented report, with keys relative to the bucket root", () => {
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs, "--format", "json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(Object.keys(report)).toEqual(
      expect.arrayContaining(["summary", "alerts", "files", "digests", "gaps", "notifications"]),
    );
    expect(report.summary).toMatchObject({
      objects: 26,
      traceFiles: 14,
      digestFiles: 12,
      alerts: 15,
      failed: 0,
      suppressed: 0,
    });
    const ipv6 = report.alerts.find((a) => a.sourceIp === "2001:db8:bad::17");
    expect(ipv6).toMatchObject({
      traceName: "login",
      user: "bob",
      domain: "acme",
      time: "2024-07-19T00:12:30.004Z",
      object: expect.stringMatching(
        /^CloudTraces\/ap-southeast-1\/2024\/07\/19\/system\/IAM\/cts_CloudTrace_.*\.json\.gz$/,
      ),
      integrity: "valid",
    });
    const times = report.alerts.map((a) => a.time);
    expect(times).toEqual([...times].sort());
    expect(report.notifications).toEqual([]);
  });

  it("--format ndjson emits one typed record a line, the summary last", () => {
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs, "--format", "ndjson"]);
    const records = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    expect(records.filter((x) => x.type === "alert")).toHaveLength(15);
    expect(records.filter((x) => x.type === "file")).toHaveLength(26);
    expect(records.filter((x) => x.type === "digest")).toHaveLength(12);
    expect(records.at(-1)).toMatchObject({ type: "summary", alerts: 15, exitCode: 0 });
  });

  it("takes the allowlist from the sample's IP variable", () => {
    const r = cts(["scan", sample, ...keyArgs, "--format", "json"], {
      IP: "192.0.2.0/24, 2001:db8:cafe::/48 198.51.100.7",
    });
    expect((JSON.parse(r.stdout) as Report).summary.alerts).toBe(15);
  });

  it("writes the digest to a file with --notify file:PATH", () => {
    const out = path.join(tempDir(), "digest.txt");
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs, "--format", "json", "--notify", `file:${out}`]);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.notifications).toEqual([{ sink: "file", parts: 1, messageIds: [out] }]);
  });

  it("exits 2 naming the option and the fix for a bad flag", () => {
    const r = cts(["scan", sample, "--verify", "strict"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cts-audit: error: --verify: "strict" is not one of off, warn, require');
    expect(r.stdout).toBe("");
  });

  it("exits 2 for a bad allowlist entry, naming it", () => {
    const r = cts(["scan", sample, "--allow", "10.0.0.0/40"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--allow: invalid allowlist entry "10.0.0.0/40"');
  });

  it("exits 2 for a source that does not exist", () => {
    const r = cts(["scan", "/nonexistent/bucket"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("/nonexistent/bucket");
  });

  it("verify exits 3 on a tampered copy and names the object; scan --verify warn exits 0", () => {
    const copy = tempDir();
    cpSync(sample, copy, { recursive: true });
    const victim = "CloudTraces/ap-southeast-1/2024/07/19/system/IAM";
    const r0 = cts(["verify", copy, ...keyArgs, "--format", "json"]);
    const target = (JSON.parse(r0.stdout) as Report).files.find(
      (f) => f.object.startsWith(victim) && f.integrity === "valid",
    )!;
    writeFileSync(path.join(copy, ...target.object.split("/")), "[]");
    const r = cts(["verify", copy, ...keyArgs]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain(`Trace file   ${target.object}  INVALID: modified`);
    expect(cts(["scan", copy, ...keyArgs, ...allowArgs]).code).toBe(0);
    expect(cts(["scan", copy, ...keyArgs, ...allowArgs, "--verify", "require"]).code).toBe(3);
  });

  it("exits 1 when an object cannot be read, and names it", () => {
    const copy = tempDir();
    cpSync(sample, copy, { recursive: true });
    const bad =
      "CloudTraces/ap-southeast-1/2024/07/19/system/IAM/cts_CloudTrace_ap-southeast-1_2024-07-19T05-00-00Z_0000000000000000.json.gz";
    writeFileSync(path.join(copy, ...bad.split("/")), "garbage");
    const r = cts(["scan", copy, ...keyArgs, ...allowArgs]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`Failed objects:\\n  ${bad.replace(/[.]/g, "\\.")}: `));
  });

  it("prints help and version", () => {
    expect(cts(["--help"]).stdout).toContain("cts-audit scan   <source...>");
    expect(cts(["--version"]).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("prints one line naming the option and the fix for an argv mistake, and the help hint once", () => {
    const r = cts(["scan", sample, "--bogus", "--since"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toEqual([
      "cts-audit: error: --bogus: unknown option: check its spelling or remove it",
      "cts-audit: error: --since needs a value: write --since 24h",
      "Run cts-audit --help for usage.",
    ]);
  });

  it.each([
    ["a private key file", path.join(root, "fixtures", "keys", "test-private.pem")],
    ["private key text", readFileSync(path.join(root, "fixtures", "keys", "test-private.pem"), "utf8")],
  ])("exits 2 for %s given as --public-key, asking for the public key without echoing the key", (_, spec) => {
    const material = readFileSync(path.join(root, "fixtures", "keys", "test-private.pem"), "utf8");
    for (const r of [
      cts(["scan", sample, "--public-key", spec]),
      cts(["scan", sample], { CTS_AUDIT_PUBLIC_KEY: spec }),
    ]) {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/: this is a private key; give the public key instead/);
      for (const line of material.split("\n").filter((l) => l.length >= 16 && !l.startsWith("-----")))
        expect(r.stderr).not.toContain(line.slice(0, 16));
    }
  });

  it("reads --since and --until without an offset as UTC in any time zone", () => {
    const r = spawnSync(
      process.execPath,
      [
        cli,
        "scan",
        sample,
        ...allowArgs,
        ...keyArgs,
        "--format",
        "json",
        "--since",
        "2024-07-19T00:00:00",
        "--until",
        "2024-07-19 06:30",
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH ?? "", TZ: "Asia/Kolkata" } },
    );
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as Report).window).toEqual({
      since: "2024-07-19T00:00:00.000Z",
      until: "2024-07-19T06:30:00.000Z",
    });
  });

  const exitLine: Record<string, (stdout: string) => number> = {
    json: (stdout) => (JSON.parse(stdout) as Report).exitCode,
    ndjson: (stdout) => (JSON.parse(stdout.trim().split("\n").at(-1)!) as { exitCode: number }).exitCode,
    text: (stdout) => Number(/^Exit code (\d+)$/m.exec(stdout)?.[1]),
  };
  it.each([
    ["SIGINT", 130, "json"],
    ["SIGINT", 130, "ndjson"],
    ["SIGINT", 130, "text"],
    ["SIGTERM", 143, "json"],
    ["SIGTERM", 143, "ndjson"],
    ["SIGTERM", 143, "text"],
  ] as const)("after %s exits %i and the %s report says so", async (signal, code, format) => {
    // The allowlist comes through a FIFO: opening its writing end returns once the command is reading it, so
    // the signal lands while the command runs, before any report, without timing.
    const fifo = path.join(tempDir(), "allow.fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const child = spawn(
      process.execPath,
      [cli, "scan", sample, "--allow-file", fifo, ...keyArgs, "--format", format],
      {
        env: { PATH: process.env.PATH ?? "" },
      },
    );
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("close", (status) => resolve(status)));
    const writer = await open(fifo, "w");
    child.kill(signal);
    await writer.write("192.0.2.0/24\n");
    await writer.close();
    expect(await exited).toBe(code);
    expect(exitLine[format]!(stdout)).toBe(code);
  });
});

describe("cts-audit --rules", () => {
  const rulesFile = (text: string) => {
    const file = path.join(tempDir(), "rules.yaml");
    writeFileSync(file, text);
    return file;
  };
  const aliceAtHome =
    "allow:\n  - cidrs: [203.0.113.7/32]\n    users: [alice]\nrules:\n  owner-login: { enabled: false }\n";

  it.each([
    ["--rules", (file: string) => [["--rules", file], {}] as const],
    ["env CTS_AUDIT_RULES", (file: string) => [[], { CTS_AUDIT_RULES: file }] as const],
  ])("applies a rules file from %s: per-user allowances and rules switched off", (_, how) => {
    const [args, env] = how(rulesFile(aliceAtHome));
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs, "--format", "json", ...args], env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    // alice's four alerts from 203.0.113.7 are allowed for her; the owner's login no longer alerts.
    expect(report.summary.alerts).toBe(10);
    expect(report.alerts.filter((a) => a.sourceIp === "203.0.113.7")).toEqual([]);
    expect(new Set(report.alerts.map((a) => `${a.rule}/${a.severity}`))).toEqual(
      new Set([
        "ip-not-allowed/high",
        "audit-tamper/critical",
        "login-without-mfa/medium",
        "brute-force/high",
        "password-spray/high",
        "failures-then-success/critical",
      ]),
    );
  });

  it("exits 2 on an invalid rules file, naming the file, every bad key's path and the fix", () => {
    const file = rulesFile(
      "rules:\n  brute-force: { threshold: 1, windw: 10m }\n  owner-login: { severity: urgent }\n",
    );
    const r = cts(["scan", sample, ...keyArgs, "--rules", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    for (const want of [
      `--rules ${file}: rules.brute-force.threshold: must be a whole number of at least 2`,
      `--rules ${file}: rules.brute-force.windw: unknown key: check its spelling`,
      `--rules ${file}: rules.owner-login.severity: must be one of low, medium, high, critical`,
    ])
      expect(r.stderr).toContain(want);
  });

  it("lists the alerts in the text report, the worst first, also with --notify none", () => {
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs, "--notify", "none"]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain("by source IP and user");
    const lines = r.stdout.split("\n");
    const start = lines.indexOf("Alerts:");
    expect(start).toBeGreaterThan(0);
    const listed = lines.slice(start + 1).filter((l) => l.startsWith("  ["));
    expect(listed).toHaveLength(15);
    expect(listed[0]).toBe(
      "  [critical] audit-tamper  2024-07-19T00:41:00.000Z  updateTracker  mallory (acme)  192.0.2.77  tracker-disabled  ConsoleAction",
    );
    expect(listed.at(-1)!.startsWith("  [medium] ")).toBe(true);
    expect(r.stdout).toContain(
      "owner-login  2024-07-19T00:25:00.000Z  login  acme (acme)  192.0.2.44  owner-login  domain owner, login protection off, ConsoleAction",
    );
  });

  it("loads the README's example file (fixtures/rules.example.yaml) on the sample: every rule, its allow entries", () => {
    const example = path.join(root, "fixtures", "rules.example.yaml");
    const r = cts(["scan", sample, ...keyArgs, "--rules", example, "--format", "json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(new Set(report.alerts.map((a) => a.rule))).toEqual(
      new Set([
        "ip-not-allowed",
        "owner-login",
        "login-without-mfa",
        "brute-force",
        "password-spray",
        "failures-then-success",
        "audit-tamper",
      ]),
    );
    const notAllowed = report.alerts.filter((a) => a.rule === "ip-not-allowed").map((a) => a.sourceIp);
    // Its global entries allow the office networks; its break-glass address is no one else's.
    expect(notAllowed.filter((ip) => ip.startsWith("192.0.2.") || ip.startsWith("2001:db8:cafe:"))).toEqual(
      [],
    );
    expect(notAllowed).toContain("198.51.100.7");
    for (const a of report.alerts.filter((x) => x.evidence)) expect(a.integrity).toBe("valid");
  });

  it("exits 2 when the rules file cannot be read", () => {
    const r = cts(["scan", sample, ...keyArgs], { CTS_AUDIT_RULES: "/no/such/rules.yaml" });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("env CTS_AUDIT_RULES /no/such/rules.yaml: cannot read the file");
  });
});
