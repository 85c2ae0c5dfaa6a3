/**
 * LedgerPolicy's queued writes (a unit's outcomes, attempts and replay record): issued in order, off the scan's path,
 * a failure reported as the run's, never thrown, and all of them done before delivery (drain) and close.
 */
import { describe, expect, it } from "vitest";
import { LedgerPolicy } from "../../src/engine/LedgerPolicy.js";
import type { Ledger } from "../../src/state/types.js";

/** A ledger whose writes finish when the test lets them (unit test of the policy: the real ledgers have theirs). */
function gatedLedger() {
  const log: string[] = [];
  const gates: Array<() => void> = [];
  const ledger = {
    location: "memory",
    open: async () => undefined,
    close: async () => void log.push("close"),
  } as unknown as Ledger;
  const op =
    (name: string, fail = false) =>
    async () => {
      log.push(`start ${name}`);
      await new Promise<void>((resolve) => gates.push(resolve));
      if (fail) throw new Error(`disk full writing ${name}`);
      log.push(`done ${name}`);
    };
  const release = async () => {
    while (gates.length > 0) {
      gates.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
  };
  return { ledger, log, op, release, gates };
}

function policy(ledger: Ledger, write = true) {
  const failures: string[] = [];
  const p = new LedgerPolicy(
    ledger,
    "rules",
    write,
    (m) => failures.push(m),
    () => new Date(0),
  );
  return { p, failures };
}

describe("LedgerPolicy.later", () => {
  it("returns before the write is done, issues writes at once in order, and drain waits for all", async () => {
    const g = gatedLedger();
    const { p } = policy(g.ledger);
    await p.later("a", g.op("a"));
    await p.later("b", g.op("b"));
    await new Promise((r) => setTimeout(r, 0));
    // b is issued while a is in flight: the ledger applies them in that order, and may commit them together.
    expect(g.log).toEqual(["start a", "start b"]);
    let drained = false;
    const d = p.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 0));
    expect(drained).toBe(false);
    await g.release();
    await d;
    expect(drained).toBe(true);
    expect(g.log).toEqual(["start a", "start b", "done a", "done b"]);
  });

  it("issues a write of a series only once the one before it in that series is done", async () => {
    const g = gatedLedger();
    const { p } = policy(g.ledger);
    await p.later("s1", g.op("s1"), "baselines");
    await p.later("x", g.op("x"));
    await p.later("s2", g.op("s2"), "baselines");
    await new Promise((r) => setTimeout(r, 0));
    expect(g.log).toEqual(["start s1", "start x"]);
    g.gates.shift()!(); // s1 is done
    await new Promise((r) => setTimeout(r, 0));
    expect(g.log).toEqual(["start s1", "start x", "done s1", "start s2"]);
    await g.release();
    await p.drain();
    expect(g.log).toEqual(["start s1", "start x", "done s1", "start s2", "done x", "done s2"]);
  });

  it("makes the caller wait once more than a few writes are queued (a slow disk slows the scan, not memory)", async () => {
    const g = gatedLedger();
    const { p } = policy(g.ledger);
    const calls = Array.from({ length: 6 }, (_, i) => p.later(`w${i}`, g.op(`w${i}`)));
    const settled = await Promise.all(
      calls.map((c) =>
        Promise.race([c.then(() => "returned"), new Promise((r) => setTimeout(() => r("waiting"), 20))]),
      ),
    );
    expect(settled).toEqual(["returned", "returned", "returned", "returned", "waiting", "waiting"]);
    await g.release();
    await Promise.all(calls);
  });

  it("reports a failed write as the run's failure, never throws, and the writes after it still run", async () => {
    const g = gatedLedger();
    const { p, failures } = policy(g.ledger);
    await p.open({ run: "r", pid: 1, host: "h", startedAt: "", command: "" });
    await p.later("recording completed objects", g.op("a", true));
    await p.later("keeping login attempts", g.op("b"));
    const closing = p.close();
    await g.release();
    await closing;
    expect(failures).toEqual(["state store memory: recording completed objects failed: disk full writing a"]);
    expect(g.log).toEqual(["start a", "start b", "done b", "close"]);
  });

  it("writes nothing in a dry run", async () => {
    const g = gatedLedger();
    const { p } = policy(g.ledger, false);
    await p.later("a", g.op("a"));
    await p.drain();
    expect(g.log).toEqual([]);
  });
});
