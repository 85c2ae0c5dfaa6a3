import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import { parseObjectKey } from "../../src/cts/objectKey.js";
import { summarizeAttempts, type StoredAttempts } from "../../src/engine/StoredAttempts.js";
import { WindowCarry, type AttemptStore } from "../../src/engine/WindowCarry.js";
import type { Unit } from "../../src/engine/units.js";
import { distinctAttempts } from "../../src/state/distinctAttempts.js";
import { at, every, MIDNIGHT, SETTINGS } from "../detect/windowCorpus.js";

const SERIES = "CloudTraces/cn-north-4";
const FILE = `${SERIES}/2024/07/20/system/IAM/a_CloudTrace_cn-north-4_2024-07-20T00-05-00Z_00000000000000a1.json.gz`;
const unit: Unit = {
  id: `${SERIES}/2024-07-20`,
  series: SERIES,
  objects: [{ object: { key: FILE, size: 1 }, key: parseObjectKey(FILE) }],
};

/** The unit's attempts: a brute force that starts before midnight (in the unit's first file) and a spray. */
function unitAttempts(): LoginAttempt[] {
  return [
    ...every(-3, 1, 6).map((m) => at(m, "alice", "198.51.100.7")),
    ...["u1", "u2", "u3", "u4"].map((u, i) => at(40 + i, u, "198.51.100.9")),
    at(50, "alice", "198.51.100.7", "success"),
  ].map((a) => ({ ...a, object: FILE }));
}

/** The ledger's attempts, in memory (this module's unit test; the ledgers' own tests cover them). */
function memoryStore(kept: LoginAttempt[]): AttemptStore {
  return {
    attempts: async (_scope, from, to) => distinctAttempts(kept.filter((a) => a.time >= from && a.time < to)),
    keepAttempts: async () => undefined,
  };
}

async function windowsOf(
  store: LoginAttempt[],
  given: (loaded: { n: number }) => LoginAttempt[] | StoredAttempts,
  narrow = false,
) {
  const loaded = { n: 0 };
  const carry = new WindowCarry(SETTINGS, memoryStore(store), { narrow });
  const settled = await carry.settle(unit, given(loaded));
  return { settled, alerts: carry.finishAll(), counters: carry.counters, loaded: loaded.n };
}

const lazy = (attempts: LoginAttempt[]) => (loaded: { n: number }) => ({
  ...summarizeAttempts(attempts),
  load: () => {
    loaded.n++;
    return Promise.resolve(attempts);
  },
});

describe("a replayed unit's attempts (StoredAttempts)", () => {
  const own = unitAttempts();
  const stale = { ...at(20, "bob", "203.0.113.5"), object: FILE };
  const otherFile = `${SERIES}/2024/07/20/system/IAM/other.json.gz`;
  const other = { ...at(30, "carol", "203.0.113.6"), object: otherFile };
  const later = { ...at(90, "carol", "203.0.113.6"), object: otherFile };
  it.each([
    ["the ledger kept exactly them (some before midnight)", [...own], false, 0],
    ["the ledger also holds another object's attempt after them", [...own, later], false, 0],
    ["the ledger also holds another object's attempt among them", [...own, other], false, 1],
    ["one of them expired from the ledger", [...own.slice(1), other], false, 1],
    ["the ledger also holds an older attempt of the same object", [...own, stale], false, 1],
    ["the ledger kept none", [], false, 1],
    ["a narrow read (the function's)", [...own], true, 1],
  ])(
    "%s: the windows find what the record's copy gives them (loaded %i)",
    async (_, store, narrow, parses) => {
      const plain = await windowsOf(store, () => own, narrow);
      const replayed = await windowsOf(store, lazy(own), narrow);
      expect(replayed.loaded).toBe(parses);
      expect(replayed.alerts).toEqual(plain.alerts);
      expect(replayed.counters).toEqual(plain.counters);
      expect(plain.alerts.length).toBeGreaterThan(0);
    },
  );

  it("says when the attempts cannot be had (the unit is then scanned), having added none of them", async () => {
    const gone = (loaded: { n: number }) => ({
      ...summarizeAttempts(own),
      load: () => {
        loaded.n++;
        return Promise.resolve(undefined);
      },
    });
    const replayed = await windowsOf([...own.slice(1)], gone);
    expect([replayed.settled, replayed.loaded]).toEqual([false, 1]);
    // What the ledger held of the day was given; the unit's own (the first, before midnight) were not.
    const fromLedger = await windowsOf([...own.slice(1)], () => []);
    expect(replayed.alerts).toEqual(fromLedger.alerts);
  });

  it("an empty record loads nothing", async () => {
    const replayed = await windowsOf([], lazy([]));
    expect(replayed.loaded).toBe(0);
    expect(replayed.alerts).toEqual([]);
  });
});

describe("summarizeAttempts", () => {
  const attempt = fc
    .record({
      minute: fc.integer({ min: -100, max: 2000 }),
      user: fc.constantFrom("a", "b", "c"),
      n: fc.nat(50),
    })
    .map(({ minute, user, n }) => ({
      ...at(minute, user, "192.0.2.1"),
      traceId: `t-${minute}-${user}-${n}`,
    }));

  it("does not depend on order or repeats, and leaves out attempts without a time", () => {
    fc.assert(
      fc.property(fc.array(attempt, { maxLength: 40 }), (list) => {
        const shuffled = [...list].reverse();
        const timeless = { ...at(0, "a", "192.0.2.1"), time: Number.NaN, traceId: "no-time" };
        expect(summarizeAttempts([...shuffled, ...list, timeless])).toEqual(summarizeAttempts(list));
      }),
    );
  });

  it("tells different sets apart", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(attempt, { selector: (a) => a.traceId, minLength: 1, maxLength: 40 }),
        (list) => {
          const fewer = summarizeAttempts(list.slice(1));
          const other = summarizeAttempts([
            ...list.slice(1),
            { ...list[0]!, traceId: `${list[0]!.traceId}x` },
          ]);
          const all = summarizeAttempts(list);
          expect(fewer.n).toBe(all.n - 1);
          expect(other.sig).not.toBe(all.sig);
        },
      ),
    );
  });

  it("counts and bounds the distinct attempts", () => {
    const s = summarizeAttempts([at(-5, "a", "192.0.2.1"), at(7, "b", "192.0.2.1")]);
    expect([s.n, s.lo, s.hi]).toEqual([2, MIDNIGHT - 5 * 60_000, MIDNIGHT + 7 * 60_000]);
  });
});
