import { cpSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import type { Alert, FileIntegrity, RuleId } from "../../src/detect/types.js";
import { run } from "../../src/engine/run.js";
import type { Report } from "../../src/report/types.js";
import { LocalSource } from "../../src/sources/LocalSource.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { at, MIN } from "../detect/windowCorpus.js";
import { configFor, tempDir } from "../support/harness.js";

const root = path.resolve(import.meta.dirname, "../..");
const sample = path.join(root, "fixtures", "sample-bucket");
const WINDOWED: RuleId[] = ["brute-force", "password-spray", "failures-then-success"];

async function scan(bucket: string, extra: string[] = [], ledger?: LocalLedger): Promise<Report> {
  const options = configFor([
    "scan",
    bucket,
    "--allow-file",
    path.join(root, "fixtures", "sample-allowlist.txt"),
    "--public-key",
    path.join(root, "fixtures", "keys", "test-public.pem"),
    ...extra,
  ]);
  return run(options, { sources: [await LocalSource.open(bucket)], ...(ledger ? { ledger } : {}) });
}

const windowed = (r: Report) => r.alerts.filter((a) => WINDOWED.includes(a.rule!) && a.evidence);
const verdictOf = (r: Report, a: Alert) => r.files.find((f) => f.object === a.object)?.integrity;

/** A copy of the sample whose files holding these alerts' completing traces no longer match their digests. */
function tamperedCopy(alerts: readonly Alert[]): string {
  const dir = path.join(tempDir(), "bucket");
  cpSync(sample, dir, { recursive: true });
  for (const object of new Set(alerts.map((a) => a.object))) {
    const file = path.join(dir, object);
    // Whitespace after the array: the same traces, other bytes (the digest's hash no longer matches).
    writeFileSync(file, gzipSync(Buffer.concat([gunzipSync(readFileSync(file)), Buffer.from("\n ")])));
  }
  return dir;
}

/**
 * A windowed alert takes the integrity of the file that holds its completing trace, like a per-trace alert: the
 * settled verdict of that file in the run, whatever it is; never `valid` for a trace this run did not verify.
 */
describe("windowed alerts carry their completing trace's file integrity", () => {
  it.each<[string, FileIntegrity, () => Promise<Report>]>([
    ["digests verified", "valid", () => scan(sample)],
    [
      "files changed after their digest",
      "modified",
      async () => scan(tamperedCopy(windowed(await scan(sample)))),
    ],
    ["verification off", "unverified", () => scan(sample, ["--verify", "off"])],
  ])("%s: every windowed rule's alert says %s, its file's verdict", async (_, expected, report) => {
    const r = await report();
    const alerts = windowed(r);
    expect(alerts.map((a) => a.rule).sort()).toEqual([...WINDOWED].sort());
    for (const a of alerts) {
      expect(a.integrity, a.rule).toBe(expected);
      if (expected !== "unverified") expect(verdictOf(r, a), a.rule).toBe(expected);
    }
  });

  it("a pattern completed by a trace another run kept (its file not judged here) is unverified, not valid", async () => {
    const file = path.join(tempDir(), "ledger");
    const ledger = () => new LocalLedger(file, { retentionMs: 30 * 24 * 60 * MIN });
    const seed = ledger();
    await seed.open({ holder: { run: "seed", pid: 1, host: "test", startedAt: "", command: "seed" } });
    const midnight = Date.parse("2024-07-19T00:00:00Z");
    const kept = ["p1", "p2", "p3"].map((user, i) => ({
      ...at(0, user, "203.0.113.250"),
      time: midnight + (i * 10 - 15) * MIN,
      traceId: `kept-${user}`,
    }));
    await seed.putAttempts("CloudTraces/ap-southeast-1", kept);
    await seed.close();
    const r = await scan(sample, [], ledger());
    const spray = r.alerts.filter((a) => a.rule === "password-spray" && a.sourceIp === "203.0.113.250");
    expect(spray.map((a) => [a.traceId, a.integrity])).toEqual([["kept-p3", "unverified"]]);
    // The sample's own windowed alerts still take their files' verdicts.
    for (const a of windowed(r).filter((x) => x.sourceIp !== "203.0.113.250"))
      expect(a.integrity).toBe("valid");
  });
});
