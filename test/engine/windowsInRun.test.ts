import path from "node:path";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { run } from "../../src/engine/run.js";
import { FileNotifier } from "../../src/notify/FileNotifier.js";
import { LocalSource } from "../../src/sources/LocalSource.js";
import { alertKey } from "../../src/state/alertKey.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { at, MIN } from "../detect/windowCorpus.js";
import { configFor, tempDir } from "../support/harness.js";

const root = path.resolve(import.meta.dirname, "../..");
const sample = path.join(root, "fixtures", "sample-bucket");
const args = [
  "scan",
  sample,
  "--allow-file",
  path.join(root, "fixtures", "sample-allowlist.txt"),
  "--public-key",
  path.join(root, "fixtures", "keys", "test-public.pem"),
];
// The sample's midnight (2024-07-18 to 19) and its series.
const SAMPLE_MIDNIGHT = Date.parse("2024-07-19T00:00:00Z");
const SERIES = "CloudTraces/ap-southeast-1";
const shifted = (minutes: number, user: string) => {
  const a = at(0, user, "203.0.113.250");
  return { ...a, time: SAMPLE_MIDNIGHT + minutes * MIN, traceId: `planted-${user}` };
};

/**
 * The engine's wiring of the windows, end to end, without rules-A's producer: attempts an earlier run kept in the
 * ledger (the objects that gave them are reused, not read again) join the run's units, and the windowed alert
 * goes through the tally, the digest and the ledger's dedupe like any other.
 */
describe("windowed rules in a run", () => {
  it("a spray kept in the ledger across the sample's midnight is reported once, then suppressed", async () => {
    const file = path.join(tempDir(), "ledger");
    const seed = new LocalLedger(file, { retentionMs: 30 * 24 * 60 * MIN });
    await seed.open({ holder: { run: "seed", pid: 1, host: "test", startedAt: "", command: "seed" } });
    await seed.putAttempts(SERIES, [shifted(-30, "p1"), shifted(-10, "p2"), shifted(15, "p3")]);
    await seed.close();

    const options = configFor(args);
    const out = path.join(tempDir(), "digest.txt");
    const once = async () => {
      const ledger = new LocalLedger(file, { retentionMs: 30 * 24 * 60 * MIN });
      return run(options, {
        sources: [await LocalSource.open(sample)],
        ledger,
        notifier: new FileNotifier(out),
      });
    };
    const first = await once();
    const spray = first.alerts.filter((a) => a.rule === "password-spray" && a.sourceIp === "203.0.113.250");
    expect(spray.map(alertKey)).toEqual([`password-spray:ip:203.0.113.250:2024-07-19T00:15:00.000Z`]);
    expect(spray[0]!.traceId).toBe("planted-p3");
    expect(spray[0]!.suppressed).not.toBe(true);
    expect(readFileSync(out, "utf8")).toContain("203.0.113.250");
    const second = await once();
    expect(
      second.alerts
        .filter((a) => a.rule === "password-spray" && a.sourceIp === "203.0.113.250")
        .map((a) => a.suppressed),
    ).toEqual([true]);
    expect(second.summary.alerts).toBe(first.summary.alerts);
  });
});
