import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import { DEFAULT_RULES } from "../../src/detect/RulesConfig.js";
import type { AlertEvidence, RuleId } from "../../src/detect/types.js";
import {
  attemptKey,
  EVIDENCE_LIST_MAX,
  WindowedRules,
  type WindowedSettings,
} from "../../src/detect/WindowedRules.js";
import { alertKey } from "../../src/state/alertKey.js";
import { at, canonical, every, MIDNIGHT, MIN, plantedCorpus, ruleGroups, SETTINGS } from "./windowCorpus.js";

const DAY = 24 * 60 * MIN;
const SLACK = 60 * MIN;

function runAll(attempts: readonly LoginAttempt[], settings: WindowedSettings = SETTINGS) {
  const w = new WindowedRules(settings, { slackMs: SLACK });
  w.add(attempts);
  return w.finish();
}

/** Feeds attempts as a run would: day units in time order, each shuffled and cut into files, advancing after each. */
function runSplit(units: readonly LoginAttempt[][], files: (unit: LoginAttempt[]) => LoginAttempt[][]) {
  const w = new WindowedRules(SETTINGS, { slackMs: SLACK });
  for (const unit of units) {
    for (const file of files(unit)) w.add(file);
    w.advance();
  }
  return w.finish();
}

describe("WindowedRules: the planted corpus", () => {
  it("gives exactly each pattern's alerts and none for the near misses", () => {
    const { attempts, expected } = plantedCorpus();
    expect(ruleGroups(runAll(attempts))).toEqual(expected);
  });

  it("gives the same alerts in reverse order and split at midnight into two units", () => {
    const { attempts } = plantedCorpus();
    const whole = canonical(runAll(attempts));
    const before = attempts.filter((a) => a.time < MIDNIGHT).reverse();
    const after = attempts.filter((a) => a.time >= MIDNIGHT).reverse();
    expect(canonical(runSplit([before, after], (u) => [u.slice(0, 7), u.slice(7)]))).toEqual(whole);
  });

  it.each<
    [string, Partial<WindowedSettings[keyof WindowedSettings]> & { rule: keyof WindowedSettings }, string[]]
  >([
    ["brute-force off", { rule: "brute-force", enabled: false }, ["brute-force"]],
    ["password-spray off", { rule: "password-spray", enabled: false }, ["password-spray"]],
    [
      "failures-then-success off",
      { rule: "failures-then-success", enabled: false },
      ["failures-then-success"],
    ],
  ])("a rule turned off (%s) raises nothing, the others are unchanged", (_, change, gone) => {
    const { attempts, expected } = plantedCorpus();
    const { rule, ...rest } = change;
    const settings = { ...SETTINGS, [rule]: { ...SETTINGS[rule], ...rest } } as WindowedSettings;
    expect(ruleGroups(runAll(attempts, settings))).toEqual(
      expected.filter((k) => !gone.some((g) => k.startsWith(`${g}:`))),
    );
  });

  it.each([
    ["threshold 3 makes 3 failures in 15 minutes brute force", { threshold: 3 }, "corp/bf-three", 1],
    [
      "a 16-minute window makes 4 failures over 16 minutes brute force",
      { window: 16 * MIN },
      "corp/bf-sixteen",
      1,
    ],
    ["threshold 5 (IAM's lockout) makes 4 failures none", { threshold: 5 }, "corp/bf-user", 0],
  ])("thresholds and windows come from the settings: %s", (_, bf, user, count) => {
    const { attempts } = plantedCorpus();
    const settings = { ...SETTINGS, "brute-force": { ...SETTINGS["brute-force"], ...bf } };
    const alerts = runAll(attempts, settings).filter((a) => a.evidence?.group === `user:${user}`);
    expect(alerts).toHaveLength(count);
  });
});

describe("WindowedRules: alerts", () => {
  it("one sustained attack is one alert whose evidence counts every attempt (lists bounded)", () => {
    const attempts = every(100, 3, 40).map((m) => at(m, "sustained", "198.51.100.40"));
    const [alert, ...rest] = runAll(attempts);
    expect(rest).toEqual([]);
    const completing = attempts[3]!;
    expect(alert).toMatchObject({
      rule: "brute-force",
      severity: "high",
      reason: "login-pattern",
      traceId: completing.traceId,
      time: new Date(completing.time).toISOString(),
      user: "sustained",
      userId: "sustained",
      domain: "corp",
      sourceIp: "198.51.100.40",
    });
    expect(alert!.evidence).toEqual({
      count: 40,
      first: new Date(attempts[0]!.time).toISOString(),
      last: new Date(attempts[39]!.time).toISOString(),
      traceIds: attempts.slice(0, EVIDENCE_LIST_MAX).map((a) => a.traceId),
      users: ["sustained"],
      sourceIps: ["198.51.100.40"],
      group: "user:corp/sustained",
      windowId: new Date(completing.time).toISOString(),
    } satisfies AlertEvidence);
    expect(alertKey(alert!)).toBe(
      `brute-force:user:corp/sustained:${new Date(completing.time).toISOString()}`,
    );
  });

  it("a spray's evidence names its users and the success completes failures-then-success", () => {
    const { attempts } = plantedCorpus();
    const alerts = runAll(attempts);
    const spray = alerts.find((a) => a.evidence?.group === "ip:203.0.113.20")!;
    expect(spray.evidence).toMatchObject({ count: 3, users: ["spray-0", "spray-1", "spray-2"] });
    const fts = alerts.find((a) => a.rule === "failures-then-success")!;
    expect(fts).toMatchObject({ traceName: "login", severity: "critical" });
    expect(fts.evidence).toMatchObject({ count: 4 });
  });

  it("keys differ per rule instance: the same address's brute force and spray are two alerts", () => {
    const { attempts } = plantedCorpus();
    const keys = runAll(attempts)
      .filter((a) => a.sourceIp === "203.0.113.10" || a.evidence?.group === "ip:203.0.113.10")
      .map(alertKey);
    expect(keys.map((k) => k.split(":").slice(0, 2).join(":")).sort()).toEqual([
      "brute-force:ip",
      "password-spray:ip",
    ]);
  });

  it("a trace delivered twice (two files, or the ledger and a file) counts once", () => {
    const three = every(0, 1, 3).map((m) => at(m, "dup", "198.51.100.50"));
    const w = new WindowedRules(SETTINGS);
    w.add(three);
    w.add(three.slice(0, 1).map((a) => ({ ...a })));
    w.add(three, { context: true });
    expect(w.finish()).toEqual([]);
  });
});

describe("WindowedRules: across runs (context from the ledger)", () => {
  it("a later episode after a gap longer than the window is raised", () => {
    const before = every(-20, 2, 6).map((m) => at(m, "again", "198.51.100.61"));
    const after = every(2, 2, 4).map((m) => at(m, "again", "198.51.100.61"));
    const w = new WindowedRules(SETTINGS);
    w.add(before, { context: true });
    w.add(after);
    expect(w.finish().map((a) => a.traceId)).toEqual([after[3]!.traceId]);
  });

  it("a pattern completed by an earlier run's attempts is not raised again, nor its continuation", () => {
    // A failure every 2 minutes from 23:40 to 00:08: the earlier run raised it at 23:46.
    const before = every(-20, 2, 10).map((m) => at(m, "ongoing", "198.51.100.60"));
    const after = every(0, 2, 5).map((m) => at(m, "ongoing", "198.51.100.60"));
    const w = new WindowedRules(SETTINGS);
    w.add(before, { context: true });
    w.add(after);
    expect(w.finish()).toEqual([]);
  });

  it("a spray straddling two runs is raised by the second, with the first's attempts in evidence", () => {
    const first = [at(-40, "s-0", "203.0.113.70"), at(-5, "s-1", "203.0.113.70")];
    const second = [at(19, "s-2", "203.0.113.70")];
    const w = new WindowedRules(SETTINGS);
    w.add(first, { context: true });
    w.add(second);
    const [alert, ...rest] = w.finish();
    expect(rest).toEqual([]);
    expect(alert).toMatchObject({ rule: "password-spray", traceId: second[0]!.traceId });
    expect(alert!.evidence?.count).toBe(3);
  });
});

describe("WindowedRules: bounded memory", () => {
  it("holds only what can still matter: a week of attempts, a day at a time", () => {
    const w = new WindowedRules(SETTINGS, { slackMs: SLACK });
    let most = 0;
    for (let day = 0; day < 7; day++) {
      // A failure a minute all day from one address against 50 users (a slow spray).
      w.add(every(day * 24 * 60, 1, 24 * 60).map((m, i) => at(m, `u${i % 50}`, "203.0.113.80")));
      w.advance();
      most = Math.max(most, w.held);
    }
    // One day buffered (the slack and the unit) plus the longest window of the groups, never the week.
    expect(most).toBeLessThan(24 * 60 + 200);
    expect(w.finish().filter((a) => a.rule === "password-spray")).toHaveLength(1);
  });

  it("caps each group (never below a threshold) and counts what it dropped; a flood is one alert a group", () => {
    const w = new WindowedRules(SETTINGS, { capPerGroup: 5 });
    w.add(every(0, 0.01, 500).map((m) => at(m, "flood", "198.51.100.90")));
    const alerts = w.finish();
    expect(alerts.map((a) => a.evidence?.group).sort()).toEqual(["ip:198.51.100.90", "user:corp/flood"]);
    expect(w.dropped).toBeGreaterThan(0);
    expect(alerts.map((a) => a.evidence?.count)).toEqual([500, 500]);
  });

  it("counts an attempt that arrives after its time was folded (beyond the slack) as late", () => {
    const w = new WindowedRules(SETTINGS, { slackMs: SLACK });
    w.add([at(0, "x", "198.51.100.91"), at(24 * 60, "x", "198.51.100.91")]);
    w.advance();
    w.add([at(60, "x", "198.51.100.91")]);
    expect(w.late).toBe(1);
  });
});

// ---- property and differential tests ------------------------------------------------------------------------

const USERS = ["a", "b", "c", "d"];
const IPS = ["203.0.113.1", "203.0.113.2", "203.0.113.3"];
// Bursts are what matter: attempts cluster within 40 minutes of a few moments (around both midnights, and noon),
// spread wider at times, so that patterns, near misses and gaps all occur.
const CENTRES = [-30, 12 * 60, 24 * 60 - 20, 24 * 60 + 10, 2 * 24 * 60 - 5];
const attemptArb = fc
  .record({
    centre: fc.constantFrom(...CENTRES),
    offset: fc.integer({ min: 0, max: 40 }),
    wide: fc.integer({ min: 0, max: 4 }),
    user: fc.constantFrom(...USERS),
    ip: fc.constantFrom(...IPS),
    success: fc.integer({ min: 0, max: 3 }),
  })
  .map((r) =>
    at(r.centre + r.offset * (r.wide === 0 ? 3 : 1), r.user, r.ip, r.success === 0 ? "success" : "failure"),
  );
const corpusArb = fc.array(attemptArb, { minLength: 1, maxLength: 80, size: "max" });

/** Day units, each taking the attempts of its day plus, at random, ones of the slack before it (late files). */
function dayUnits(attempts: LoginAttempt[], lateness: number[]): LoginAttempt[][] {
  const units = new Map<number, LoginAttempt[]>();
  attempts.forEach((a, i) => {
    let day = Math.floor((a.time - MIDNIGHT) / DAY);
    const late = (lateness[i % lateness.length] ?? 0) === 1;
    if (late && MIDNIGHT + (day + 1) * DAY - a.time <= SLACK / 2) day++;
    units.set(day, [...(units.get(day) ?? []), a]);
  });
  return [...units].sort(([x], [y]) => x - y).map(([, u]) => u);
}

describe("WindowedRules: the same attempts give the same alerts whatever the split", () => {
  it("shuffled within units, cut into files, units in time order, late files within the slack", () => {
    fc.assert(
      fc.property(
        corpusArb,
        fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 10 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }),
        fc.integer(),
        (attempts, lateness, cuts, seed) => {
          const whole = canonical(runAll(attempts));
          const units = dayUnits(attempts, lateness).map((u) => shuffled(u, seed));
          const split = runSplit(units, (u) => cutInto(u, cuts));
          expect(canonical(split)).toEqual(whole);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("agrees with a direct reading of the semantics (all windows, every attempt, no memory bound)", () => {
    fc.assert(
      fc.property(corpusArb, (attempts) => {
        expect(canonical(runAll(attempts))).toEqual(canonical(reference(attempts)));
      }),
      { numRuns: 200 },
    );
  });
});

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function cutInto<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  for (let c = 0; i < items.length; c++) {
    const n = cuts[c % cuts.length]!;
    out.push(items.slice(i, i + n));
    i += n;
  }
  return out;
}

/**
 * The semantics of WindowedRules' TSDoc, read directly and independently of its streaming fold: for each group,
 * every attempt's window is scanned from scratch; triggers chain into episodes; evidence is the completing window
 * plus every later attempt up to a window after the episode's last trigger.
 */
function reference(attempts: readonly LoginAttempt[]) {
  const s = DEFAULT_RULES.rules;
  type Spec = {
    rule: RuleId;
    kind: "user" | "ip";
    W: number;
    sev: string;
    group: (a: LoginAttempt) => string | undefined;
    holds: (win: LoginAttempt[], a: LoginAttempt) => boolean;
  };
  const fail = (a: LoginAttempt) => a.outcome === "failure";
  const bf = s["brute-force"];
  const specs: Spec[] = [
    {
      rule: "brute-force",
      kind: "user",
      W: bf.window,
      sev: bf.severity,
      group: (a) => (fail(a) ? a.userKey : undefined),
      holds: (w) => w.length >= bf.threshold,
    },
    {
      rule: "brute-force",
      kind: "ip",
      W: bf.window,
      sev: bf.severity,
      group: (a) => (fail(a) ? a.sourceIp : undefined),
      holds: (w) => w.length >= bf.ipThreshold,
    },
    {
      rule: "password-spray",
      kind: "ip",
      W: s["password-spray"].window,
      sev: "high",
      group: (a) => (fail(a) ? a.sourceIp : undefined),
      holds: (w) => new Set(w.map((x) => x.userKey)).size >= s["password-spray"].users,
    },
    {
      rule: "failures-then-success",
      kind: "user",
      W: s["failures-then-success"].window,
      sev: "critical",
      group: (a) => a.userKey,
      holds: (w, a) =>
        a.outcome === "success" && w.filter(fail).length >= s["failures-then-success"].failures,
    },
  ];
  const unique = [...new Map(attempts.map((a) => [attemptKey(a), a])).values()];
  const out = [];
  for (const spec of specs) {
    const groups = new Map<string, LoginAttempt[]>();
    for (const a of unique) {
      const g = spec.group(a);
      if (g !== undefined) groups.set(g, [...(groups.get(g) ?? []), a]);
    }
    for (const [g, list] of groups) {
      list.sort((x, y) => x.time - y.time || (x.traceId < y.traceId ? -1 : 1));
      const windowStart = (j: number) => list.findIndex((x, i) => i <= j && x.time >= list[j]!.time - spec.W);
      const triggers = list
        .map((a, j) => j)
        .filter((j) => spec.holds(list.slice(windowStart(j), j + 1), list[j]!));
      const episodes: number[][] = [];
      for (const j of triggers) {
        const cur = episodes.at(-1);
        if (cur && list[j]!.time - list[cur.at(-1)!]!.time <= spec.W) cur.push(j);
        else episodes.push([j]);
      }
      for (const ep of episodes) {
        const c = list[ep[0]!]!;
        const end = list[ep.at(-1)!]!.time + spec.W;
        const ev = list.filter((x, i) => i >= windowStart(ep[0]!) && (i <= ep[0]! || x.time <= end));
        const firstN = (xs: string[]) => [...new Set(xs.filter((x) => x !== ""))].slice(0, EVIDENCE_LIST_MAX);
        out.push({
          traceId: c.traceId,
          traceName: c.traceName,
          sourceIp: c.sourceIp,
          user: c.user,
          object: c.object,
          time: new Date(c.time).toISOString(),
          rule: spec.rule,
          evidence: {
            count: ev.length,
            first: new Date(ev[0]!.time).toISOString(),
            last: new Date(ev.at(-1)!.time).toISOString(),
            traceIds: firstN(ev.map((x) => x.traceId)),
            users: firstN(ev.map((x) => x.user)),
            sourceIps: firstN(ev.map((x) => x.sourceIp)),
            group: `${spec.kind}:${g}`,
            windowId: new Date(c.time).toISOString(),
          },
        });
      }
    }
  }
  return out;
}
