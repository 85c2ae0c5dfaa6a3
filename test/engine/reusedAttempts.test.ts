import path from "node:path";
import { describe, expect, it } from "vitest";
import { alertKey } from "../../src/state/alertKey.js";
import { run } from "../../src/engine/run.js";
import { LocalSource } from "../../src/sources/LocalSource.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { configFor, tempDir } from "../support/harness.js";

const root = path.resolve(import.meta.dirname, "../..");
const sample = path.join(root, "fixtures", "sample-bucket");
const DAY = 24 * 60 * 60 * 1000;
const WINDOWED = new Set(["brute-force", "password-spray", "failures-then-success"]);

/**
 * Why a completed object's outcome keeps its login attempts although the attempts store holds them too: the store
 * keeps attempts for days (the windows across nightly runs), outcomes for the state's retention (months). A rerun
 * or a resumed backfill that reuses objects after the store dropped their attempts must still find the patterns
 * in them, and patterns that straddle reused and newly read objects.
 */
describe("a reused object's login attempts", () => {
  it("still feed the windowed rules after the attempts store expired them", async () => {
    const file = path.join(tempDir(), "ledger");
    const t0 = Date.parse("2024-07-19T06:00:00Z");
    const ledgerAt = (now: number) =>
      new LocalLedger(file, {
        retentionMs: 90 * DAY,
        attemptRetentionMs: 3 * DAY,
        clock: () => new Date(now),
      });
    const options = configFor([
      "scan",
      sample,
      "--allow-file",
      path.join(root, "fixtures", "sample-allowlist.txt"),
      "--public-key",
      path.join(root, "fixtures", "keys", "test-public.pem"),
    ]);
    const scan = async (now: number) =>
      run(options, { sources: [await LocalSource.open(sample)], ledger: ledgerAt(now) });
    const windowed = (r: Awaited<ReturnType<typeof scan>>) =>
      r.alerts.filter((a) => WINDOWED.has(a.rule ?? "")).map((a) => [alertKey(a), a.integrity]);

    const first = await scan(t0);
    expect(windowed(first)).toHaveLength(3);
    // A week later: the attempts store has dropped the first run's attempts, the outcomes are kept.
    const later = t0 + 7 * DAY;
    const sweep = ledgerAt(later);
    await sweep.open({ holder: { run: "sweep", pid: 1, host: "t", startedAt: "", command: "sweep" } });
    expect(await sweep.attempts("CloudTraces/ap-southeast-1", 0, Number.MAX_SAFE_INTEGER)).not.toEqual([]);
    await sweep.close();
    const check = ledgerAt(later);
    await check.open({ holder: { run: "check", pid: 1, host: "t", startedAt: "", command: "check" } });
    expect(await check.attempts("CloudTraces/ap-southeast-1", 0, Number.MAX_SAFE_INTEGER)).toEqual([]);
    await check.close();

    const second = await scan(later);
    expect(second.summary.reused).toBeGreaterThan(0);
    expect(windowed(second)).toEqual(windowed(first));
  });
});
