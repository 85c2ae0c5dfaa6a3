import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import { WindowedRules, type WindowedSettings } from "../../src/detect/WindowedRules.js";
import { ReferenceWindowedRules } from "./support/ReferenceWindowedRules.js";
import { MIDNIGHT, MIN, SETTINGS } from "./windowCorpus.js";

// The windowed rules keep running counts (failures, distinct users) where they used to count the window afresh at
// every attempt. The rules' answers must not change: over generated attempts, with generated settings, fed in
// generated batches, the current class and the former one (test/detect/support) give the same alerts and counters.

/** Few users and addresses, so that groups fill and patterns (and near misses) occur often. */
const attemptArb = fc.record({
  minutes: fc.integer({ min: 0, max: 6 * 60 }),
  user: fc.integer({ min: 0, max: 5 }),
  ip: fc.oneof(
    fc.integer({ min: 0, max: 3 }).map((n) => `198.51.100.${n}`),
    fc.constant(""),
  ),
  outcome: fc.constantFrom("success", "failure", "failure") as fc.Arbitrary<"success" | "failure">,
  // A repeated trace id is a duplicate delivery; an empty one is keyed by a hash of the fields.
  // null: a trace id of its own.
  traceId: fc.oneof(
    fc.constant(null),
    fc.constant(""),
    fc.integer({ min: 0, max: 9 }).map((n) => `dup${n}`),
  ),
});

function attempt(
  a: { minutes: number; user: number; ip: string; outcome: "success" | "failure"; traceId: string | null },
  i: number,
): LoginAttempt {
  return {
    time: MIDNIGHT + a.minutes * MIN,
    traceId: a.traceId ?? `t${i}`,
    traceName: a.outcome === "success" ? "login" : "loginFailed",
    outcome: a.outcome,
    user: `u${a.user}`,
    userKey: `corp/u${a.user}`,
    domain: "corp",
    sourceIp: a.ip,
    object: `file-${a.minutes % 3}`,
    region: "cn-north-4",
  };
}

const settingsArb: fc.Arbitrary<WindowedSettings> = fc
  .record({
    bf: fc.boolean(),
    threshold: fc.integer({ min: 1, max: 6 }),
    ipThreshold: fc.integer({ min: 1, max: 8 }),
    bfWindow: fc.integer({ min: 1, max: 40 }),
    spray: fc.boolean(),
    users: fc.integer({ min: 1, max: 4 }),
    sprayWindow: fc.integer({ min: 1, max: 90 }),
    fts: fc.boolean(),
    failures: fc.integer({ min: 0, max: 4 }),
    ftsWindow: fc.integer({ min: 1, max: 90 }),
  })
  .map((s) => ({
    "brute-force": {
      ...SETTINGS["brute-force"],
      enabled: s.bf,
      threshold: s.threshold,
      ipThreshold: s.ipThreshold,
      window: s.bfWindow * MIN,
    },
    "password-spray": {
      ...SETTINGS["password-spray"],
      enabled: s.spray,
      users: s.users,
      window: s.sprayWindow * MIN,
    },
    "failures-then-success": {
      ...SETTINGS["failures-then-success"],
      enabled: s.fts,
      failures: s.failures,
      window: s.ftsWindow * MIN,
    },
  }));

const runArb = fc.record({
  settings: settingsArb,
  // Batches as units: each added, then advanced; some read from the ledger as context.
  batches: fc.array(
    fc.record({
      attempts: fc.array(fc.nat(), { maxLength: 40 }),
      context: fc.boolean(),
      advance: fc.boolean(),
    }),
    { minLength: 1, maxLength: 6 },
  ),
  raw: fc.array(attemptArb, { maxLength: 200 }),
  slackMin: fc.constantFrom(0, 30, 60),
  // A small cap exercises the oldest attempts leaving a window by the cap, not by time.
  cap: fc.constantFrom(undefined, 1, 3, 7),
});

describe("WindowedRules: running counts against the former rescanning rules", () => {
  it("gives the same alerts, dropped and late counts over generated runs", () => {
    fc.assert(
      fc.property(runArb, ({ settings, batches, raw, slackMin, cap }) => {
        const options = { slackMs: slackMin * MIN, ...(cap === undefined ? {} : { capPerGroup: cap }) };
        const current = new WindowedRules(settings, options);
        const reference = new ReferenceWindowedRules(settings, options);
        const all = raw.map(attempt);
        let next = 0;
        // The rules keep the attempts they are given (not copies): they must leave them as they were.
        const given: LoginAttempt[] = [];
        for (const b of batches) {
          const take = all.slice(next, next + Math.max(1, b.attempts.length));
          next += take.length;
          // Each side gets its own copies: neither may see the other's objects.
          const mine = structuredClone(take);
          given.push(...mine);
          current.add(mine, { context: b.context });
          reference.add(structuredClone(take), { context: b.context });
          if (b.advance) {
            current.advance();
            reference.advance();
          }
          expect(current.alerts()).toEqual(reference.alerts());
        }
        const rest = structuredClone(all.slice(next));
        given.push(...rest);
        current.add(rest);
        reference.add(structuredClone(all.slice(next)));
        expect(current.finish()).toEqual(reference.finish());
        expect(given).toEqual(all);
        expect([current.dropped, current.late, current.held]).toEqual([
          reference.dropped,
          reference.late,
          reference.held,
        ]);
      }),
      { numRuns: 400, seed: 18 },
    );
  });

  it("counts the same late attempts and ignores the same redeliveries over a day of units", () => {
    // Units in time order, each with new attempts and redeliveries of earlier ones (CTS delivers at least once):
    // a redelivery of a folded attempt is ignored while its key is kept, and counted late after.
    const dayArb = fc.record({
      settings: settingsArb,
      slackMin: fc.constantFrom(0, 10, 60),
      units: fc.array(
        fc.record({
          fresh: fc.array(attemptArb, { maxLength: 25 }),
          again: fc.array(fc.nat(), { maxLength: 10 }),
        }),
        { minLength: 2, maxLength: 12 },
      ),
    });
    fc.assert(
      fc.property(dayArb, ({ settings, slackMin, units }) => {
        const current = new WindowedRules(settings, { slackMs: slackMin * MIN });
        const reference = new ReferenceWindowedRules(settings, { slackMs: slackMin * MIN });
        const seen: LoginAttempt[] = [];
        for (const [u, unit] of units.entries()) {
          // Each unit two hours after the one before: its attempts fold the earlier units' windows.
          const fresh = unit.fresh.map((a, i) =>
            attempt({ ...a, minutes: u * 120 + (a.minutes % 120) }, seen.length + i),
          );
          const again = seen.length === 0 ? [] : unit.again.map((n) => seen[n % seen.length]!);
          seen.push(...fresh);
          const batch = [...fresh, ...again];
          current.add(structuredClone(batch));
          reference.add(structuredClone(batch));
          current.advance();
          reference.advance();
          expect([current.late, current.held]).toEqual([reference.late, reference.held]);
        }
        expect(current.finish()).toEqual(reference.finish());
        expect([current.dropped, current.late]).toEqual([reference.dropped, reference.late]);
      }),
      { numRuns: 400, seed: 20 },
    );
  });

  it("finds patterns in the generated runs (the comparison is not between two empty lists)", () => {
    const settings = SETTINGS;
    const w = new WindowedRules(settings, { slackMs: 0 });
    const r = new ReferenceWindowedRules(settings, { slackMs: 0 });
    const attempts = fc
      .sample(attemptArb, { numRuns: 300, seed: 7 })
      .map((a, i) => attempt({ ...a, traceId: null }, i));
    w.add(attempts);
    r.add(attempts);
    const alerts = w.finish();
    expect(new Set(alerts.map((a) => a.rule))).toEqual(
      new Set(["brute-force", "password-spray", "failures-then-success"]),
    );
    expect(alerts).toEqual(r.finish());
  });
});
