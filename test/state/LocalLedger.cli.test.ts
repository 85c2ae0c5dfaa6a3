/**
 * The local ledger through the command line, as a user runs it: two runs at once on one ledger, a ledger held by
 * another run, a ledger that cannot be read, and alerts sent per sink.
 */
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type { Report } from "../../src/report/types.js";
import { runCli } from "../support/cli.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { tempDir, testKeys } from "../support/harness.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const ALERTS = 6;

function setup(): { dir: string; args: string[] } {
  const bucket = new CtsBucket(testKeys().privateKey, "b");
  for (let i = 0; i < ALERTS; i++) {
    const at = new Date(Date.UTC(2024, 6, 19, 0, 5) + i * 120_000);
    bucket.addTraceFile({
      uploadTime: at,
      traces: [makeTrace({ traceName: "login", sourceIp: `203.0.113.${i}`, time: at, user: `u${i}` })],
    });
  }
  const dir = tempDir();
  bucket.writeTo(dir);
  const pem = path.join(tempDir(), "key.pem");
  writeFileSync(pem, testKeys().publicKey.export({ type: "spki", format: "pem" }));
  return { dir, args: ["scan", dir, "--public-key", pem, "--verify", "off", "--format", "json"] };
}

describe("the local ledger through the command line", () => {
  it("two runs at once on one ledger: one waits for the other, and the alerts go out once", async () => {
    const { args } = setup();
    const state = path.join(tempDir(), "ledger");
    const out = path.join(tempDir(), "digest.txt");
    const both = await Promise.all([
      runCli([...args, "--state", state, "--notify", `file:${out}`], {}),
      runCli([...args, "--state", state, "--notify", `file:${out}`], {}),
    ]);
    expect(both.map((r) => r.code)).toEqual([0, 0]);
    const reports = both.map((r) => JSON.parse(r.stdout) as Report);
    // Exactly one of them sent the digest; the other found every alert sent already.
    expect(reports.map((r) => r.notifications.length).sort()).toEqual([0, 1]);
    expect(reports.map((r) => r.summary.suppressed).sort()).toEqual([0, ALERTS]);
    expect(reports.every((r) => r.summary.alerts === ALERTS)).toBe(true);
    expect(readFileSync(out, "utf8")).toContain("203.0.113.5");
  });

  it("exits 2 naming the run that holds the ledger when it does not let go", async () => {
    const { args } = setup();
    const state = path.join(tempDir(), "held");
    const child = spawn(
      process.execPath,
      ["--import", "tsx", path.join(here, "ledgerChild.ts"), "hold", state],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    try {
      await new Promise<void>((resolve) =>
        child.stdout.on("data", (d: Buffer) => d.toString().includes("locked") && resolve()),
      );
      const r = await runCli([...args, "--state", state, "--state-wait", "1", "--notify", "none"], {});
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`\\b${child.pid}\\b`));
      expect(r.stdout).toBe("");
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("scans a ledger it cannot read, sends nothing, saves the digest and exits 1 saying how to recover", async () => {
    const { args } = setup();
    const state = path.join(tempDir(), "ledger.json");
    writeFileSync(state, "this is not a ledger");
    const out = path.join(tempDir(), "digest.txt");
    const unsent = tempDir();
    const r = await runCli(
      [...args, "--state", state, "--notify", `file:${out}`, "--unsent-dir", unsent],
      {},
    );
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.summary.alerts).toBe(ALERTS);
    expect(existsSync(out)).toBe(false);
    expect(report.notifications[0]).toMatchObject({ error: expect.stringMatching(/not sent/) });
    expect(readdirSync(unsent)).toHaveLength(1);
    expect(report.errors.join("\n")).toMatch(/move it aside/);
    // The unreadable ledger is left as it was.
    expect(readFileSync(state, "utf8")).toBe("this is not a ledger");
  });

  it("records sent alerts per sink: printed on a terminal, they still go to a file", async () => {
    const { args } = setup();
    const state = path.join(tempDir(), "ledger");
    const printed = await runCli(
      [...args.filter((a) => a !== "json" && a !== "--format"), "--state", state, "--notify", "stdout"],
      {},
    );
    expect(printed.code).toBe(0);
    expect(printed.stdout).toContain("203.0.113.0");
    const out = path.join(tempDir(), "digest.txt");
    const filed = JSON.parse(
      (await runCli([...args, "--state", state, "--notify", `file:${out}`], {})).stdout,
    ) as Report;
    expect(filed.summary.suppressed).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("203.0.113.0");
    const again = JSON.parse(
      (await runCli([...args, "--state", state, "--notify", `file:${out}`], {})).stdout,
    ) as Report;
    expect(again.summary.suppressed).toBe(ALERTS);
    expect(again.notifications).toEqual([]);
  });
});
