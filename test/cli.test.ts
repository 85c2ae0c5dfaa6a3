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
    // Allowlisted addresses, and ECS traces named login, never alert.
    for (const ip of ["192.0.2.10", "198.51.100.7 ", "2001:db8:cafe::12", "203.0.113.51"]) {
      expect(r.stdout).not.toContain(`- ${ip}`);
    }
    expect(r.stdout).toMatch(/^cts-audit: 7 alerts from 4 source IPs outside the allowlist/);
    // The sample is a 2024 snapshot: its newest file's digest was due long ago and never came, so the file is
    // unlisted and the chain truncated (it was "pending" for ever before verify failed closed); scan --verify warn
    // reports that without changing the exit code.
    expect(r.stdout).toContain("Integrity: 8/8 digest files valid; trace files: 12 valid, 1 unlisted");
  });

  it("--format json gives the documented report, with keys relative to the bucket root", () => {
    const r = cts(["scan", sample, ...allowArgs, ...keyArgs, "--format", "json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(Object.keys(report)).toEqual(
      expect.arrayContaining(["summary", "alerts", "files", "digests", "gaps", "notifications"]),
    );
    expect(report.summary).toMatchObject({
      objects: 21,
      traceFiles: 13,
      digestFiles: 8,
      alerts: 7,
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
    expect(records.filter((x) => x.type === "alert")).toHaveLength(7);
    expect(records.filter((x) => x.type === "file")).toHaveLength(21);
    expect(records.filter((x) => x.type === "digest")).toHaveLength(8);
    expect(records.at(-1)).toMatchObject({ type: "summary", alerts: 7, exitCode: 0 });
  });

  it("takes the allowlist from the sample's IP variable", () => {
    const r = cts(["scan", sample, ...keyArgs, "--format", "json"], {
      IP: "192.0.2.0/24, 2001:db8:cafe::/48 198.51.100.7",
    });
    expect((JSON.parse(r.stdout) as Report).summary.alerts).toBe(7);
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
