import { createHash } from "node:crypto";
import type { LoginAttempt } from "./LoginAttempt.js";
import type { RulesConfig } from "./RulesConfig.js";
import type { Alert, AlertEvidence, RuleId, Severity } from "./types.js";

/** The settings of the windowed rules (a part of the effective rules). */
export type WindowedSettings = Pick<
  RulesConfig["rules"],
  "brute-force" | "password-spray" | "failures-then-success"
>;

/** How a {@link WindowedRules} bounds what it waits for and what it keeps. */
export interface WindowedRulesOptions {
  /**
   * How far before the newest time seen an attempt may still arrive (a file of the next day folder holding the
   * last minutes of the day before). Attempts older than that when they arrive are counted in `late`, not used.
   */
  slackMs?: number;
  /**
   * Attempts kept per group and detector inside a window (default 1000, never below a rule's threshold); beyond
   * it the oldest are dropped (counted in `dropped`). Evidence counts stay exact; a spray's distinct users are
   * counted among the kept attempts.
   */
  capPerGroup?: number;
}

/** At most this many trace ids, users and addresses in an alert's evidence; counts stay exact. */
export const EVIDENCE_LIST_MAX = 20;
const DEFAULT_SLACK_MS = 60 * 60 * 1000;
const DEFAULT_CAP = 1000;

/**
 * What the rules keep of an attempt: the attempt itself (never changed here), its time, its identity, and whether it
 * came only from the ledger. It points to the attempt rather than copying it: a copy with two more fields was the
 * costliest object of an alert-heavy run (tens of thousands of them, each kept until its window passes).
 */
interface Entry {
  attempt: LoginAttempt;
  time: number;
  key: string;
  /** Read from the ledger as context before the run's own period: patterns it completes were an earlier run's. */
  context: boolean;
}

/** One group's open episode: the alert being built. */
interface Episode {
  completing: Entry;
  quiet: boolean;
  count: number;
  first: number;
  last: number;
  traceIds: string[];
  users: string[];
  sourceIps: string[];
}

interface GroupState {
  /** The group's attempts within the window before the newest folded one (oldest first). */
  recent: Entry[];
  // Running counts over `recent`, kept as attempts enter and leave it: the rules read them at every attempt, and
  // counting afresh each time rescanned a window of hundreds of a busy user's logins per login.
  /** Failures among `recent`. */
  failures: number;
  /** Attempts in `recent` per user key (only for a detector that counts distinct users). */
  users: Map<string, number> | undefined;
  lastTrigger: number;
  open: Episode | undefined;
}

/** One rule instance over one kind of group. */
interface Detector {
  rule: RuleId;
  /** `user` or `ip`: the group's kind, part of the dedupe key. */
  kind: "user" | "ip";
  windowMs: number;
  severity: Severity;
  /** The group an attempt belongs to, or undefined when it does not enter this detector. */
  groupOf(a: LoginAttempt): string | undefined;
  /** Whether the detector needs {@link GroupState.users}. */
  countsUsers: boolean;
  /** Whether the pattern holds at `a`, given the group's attempts within the window (ending with `a`). */
  holds(state: Readonly<GroupState>, a: Entry): boolean;
}

function detectors(s: WindowedSettings): Detector[] {
  const out: Detector[] = [];
  const bf = s["brute-force"];
  const failure = (a: LoginAttempt) => a.outcome === "failure";
  if (bf.enabled) {
    out.push({
      rule: "brute-force",
      kind: "user",
      windowMs: bf.window,
      severity: bf.severity,
      groupOf: (a) => (failure(a) ? a.userKey : undefined),
      countsUsers: false,
      holds: (state) => state.recent.length >= bf.threshold,
    });
    out.push({
      rule: "brute-force",
      kind: "ip",
      windowMs: bf.window,
      severity: bf.severity,
      groupOf: (a) => (failure(a) && a.sourceIp !== "" ? a.sourceIp : undefined),
      countsUsers: false,
      holds: (state) => state.recent.length >= bf.ipThreshold,
    });
  }
  const spray = s["password-spray"];
  if (spray.enabled)
    out.push({
      rule: "password-spray",
      kind: "ip",
      windowMs: spray.window,
      severity: spray.severity,
      groupOf: (a) => (failure(a) && a.sourceIp !== "" ? a.sourceIp : undefined),
      countsUsers: true,
      holds: (state) => state.users!.size >= spray.users,
    });
  const fts = s["failures-then-success"];
  if (fts.enabled)
    out.push({
      rule: "failures-then-success",
      kind: "user",
      windowMs: fts.window,
      severity: fts.severity,
      groupOf: (a) => a.userKey,
      countsUsers: false,
      holds: (state, e) => e.attempt.outcome === "success" && state.failures >= fts.failures,
    });
  return out;
}

/** The identity of an attempt: its trace id (CTS delivers a trace at least once), else a hash of its fields. */
export function attemptKey(a: LoginAttempt): string {
  if (a.traceId) return a.traceId;
  const h = createHash("sha256")
    .update(JSON.stringify([a.time, a.traceName, a.userKey, a.sourceIp, a.outcome, a.object]))
    .digest("hex");
  return `noid:${h.slice(0, 32)}`;
}

const byTime = (a: Entry, b: Entry) =>
  a.time - b.time ||
  (a.attempt.traceId < b.attempt.traceId ? -1 : a.attempt.traceId > b.attempt.traceId ? 1 : 0) ||
  (a.key < b.key ? -1 : 1);

const pushBounded = (list: string[], value: string) => {
  if (value !== "" && list.length < EVIDENCE_LIST_MAX && !list.includes(value)) list.push(value);
};

/**
 * The windowed detection rules (DESIGN "Detection"): `brute-force` (per user, and per address), `password-spray`
 * (per address) and `failures-then-success` (per user), over {@link LoginAttempt}s of one series (one region's
 * folders: IAM's global traces land in one region) given in any order.
 *
 * **Window semantics (sliding, episodes).** Each detector's attempts are grouped (user key or address) and taken
 * in time order (ties by trace id). The pattern *holds at* an attempt `a` when the group's attempts in the closed
 * window `[a.time - window, a.time]` meet the rule: at least `threshold` failures (a user's) or `ipThreshold` (an
 * address's); failures of at least `users` distinct users (an address's); `a` is a success and at least
 * `failures` failures precede it (a user's). So 4 failures within exactly 15 minutes are brute force, 4 over 16
 * minutes are not; a burst across any boundary (an hour, midnight, a file, a unit, a run) is found.
 * Attempts where the pattern holds form an **episode** while each follows the previous one by at most the window;
 * an episode is **one alert**. Its completing trace (the first where the pattern holds) gives the alert's trace id
 * and time, and the **stable window id** is that trace's time (ISO-8601): the dedupe key is
 * `<rule>:<user:key|ip:address>:<window id>`. Whether an attempt starts an episode depends only on the group's
 * attempts in the two windows before it, so any run that sees those attempts (the ledger keeps them across runs)
 * gives the same key. The evidence counts every attempt of the group from the completing window's start until the
 * episode ends (exact count, at most {@link EVIDENCE_LIST_MAX} trace ids, users and addresses).
 *
 * **Order and memory.** Attempts are buffered and folded in time order once the newest time seen is `slackMs`
 * past them (`advance`); `finish` folds the rest. A group keeps only attempts within its window of the newest
 * folded one (at most `capPerGroup`, the oldest beyond counted in `dropped`), compact (no raw traces). An
 * attempt that arrives older than what was folded is counted in `late` (a duplicate of a folded one is ignored).
 * **Across runs**: attempts read from the ledger for the time before this run's own are added as `context`: a
 * pattern they complete, and the episode it starts, were an earlier run's to report and are not reported again.
 */
export class WindowedRules {
  private readonly detectors: Detector[];
  /** See {@link WindowedRulesOptions.slackMs}. */
  readonly slackMs: number;
  private readonly cap: number;
  /** The longest window of the enabled rules. */
  readonly longestWindowMs: number;
  private readonly pending = new Map<string, Entry>();
  private readonly groups: Array<Map<string, GroupState>>;
  /** Keys of folded attempts still within reach of a duplicate, with their times. */
  private readonly folded = new Map<string, number>();
  private watermark = -Infinity;

  /** Attempts older than this are late: the windows have folded past them. */
  get foldedUntil(): number {
    return this.watermark;
  }
  private newest = -Infinity;
  private readonly closed: Alert[] = [];
  /** Attempts dropped by the per-group cap. */
  dropped = 0;
  /** Attempts that arrived after their time had been folded (beyond the slack). */
  late = 0;

  constructor(settings: WindowedSettings, options: WindowedRulesOptions = {}) {
    this.detectors = detectors(settings);
    this.groups = this.detectors.map(() => new Map());
    this.slackMs = options.slackMs ?? DEFAULT_SLACK_MS;
    // Below a rule's own threshold the cap would hide the pattern it exists to bound.
    const b = settings["brute-force"];
    const thresholds = [b.threshold, b.ipThreshold, settings["password-spray"].users];
    this.cap = Math.max(
      options.capPerGroup ?? DEFAULT_CAP,
      ...thresholds,
      settings["failures-then-success"].failures + 1,
    );
    this.longestWindowMs = Math.max(0, ...this.detectors.map((d) => d.windowMs));
  }

  /** Whether any windowed rule is enabled. */
  get enabled(): boolean {
    return this.detectors.length > 0;
  }

  /** How far back (from an attempt) the decisions about it reach: two windows. */
  get lookbackMs(): number {
    return 2 * this.longestWindowMs;
  }

  /**
   * Adds attempts, in any order. `context`: read from the ledger for the time before this run's own attempts.
   * An attempt seen again (another file, the ledger) counts once; own wins over context.
   */
  add(attempts: Iterable<LoginAttempt>, options: { context?: boolean } = {}): void {
    const context = options.context === true;
    for (const a of attempts) {
      if (!Number.isFinite(a.time)) continue;
      const key = attemptKey(a);
      if (a.time < this.watermark) {
        if (!this.folded.has(key)) this.late++;
        continue;
      }
      const had = this.pending.get(key);
      if (had && (context || !had.context)) continue;
      this.pending.set(key, { attempt: a, time: a.time, key, context });
      this.newest = Math.max(this.newest, a.time);
    }
  }

  /** Folds every buffered attempt older than the newest time seen minus the slack (called as units settle). */
  advance(): void {
    this.foldUntil(this.newest - this.slackMs);
  }

  /** Folds everything and returns every alert (episodes still open are closed). Call once, at the end. */
  finish(): Alert[] {
    this.foldUntil(Infinity);
    for (let i = 0; i < this.detectors.length; i++)
      for (const [group, state] of this.groups[i]!) this.close(this.detectors[i]!, group, state);
    return this.alerts();
  }

  /** The alerts of closed episodes so far. */
  alerts(): Alert[] {
    return [...this.closed];
  }

  /** How many attempts are held (buffered or in a window), for memory tests and diagnostics. */
  get held(): number {
    let n = this.pending.size;
    for (const g of this.groups) for (const s of g.values()) n += s.recent.length;
    return n;
  }

  /**
   * Adds the objects of everything held (buffered and windowed attempts, open episodes, closed alerts) to
   * `into`: the files whose verdicts an alert of this instance may still need.
   */
  objectsInUse(into: Set<string>): void {
    for (const e of this.pending.values()) into.add(e.attempt.object);
    for (const g of this.groups)
      for (const s of g.values()) {
        for (const e of s.recent) into.add(e.attempt.object);
        if (s.open) into.add(s.open.completing.attempt.object);
      }
    for (const a of this.closed) into.add(a.object);
  }

  private foldUntil(until: number): void {
    if (until <= this.watermark) return;
    const ready = [...this.pending.values()].filter((e) => e.time < until).sort(byTime);
    // Keys are kept as long as a duplicate could still be mistaken for a late attempt worth counting. A key
    // already past that is not kept at all (finish folds tens of thousands of attempts, and kept none of them).
    const keep = until - this.lookbackMs - this.slackMs;
    if (ready.length === this.pending.size) this.pending.clear();
    for (const e of ready) {
      if (this.pending.size > 0) this.pending.delete(e.key);
      if (e.time >= keep) this.folded.set(e.key, e.time);
      for (let i = 0; i < this.detectors.length; i++) this.fold(i, e);
    }
    this.watermark = until;
    for (const [k, t] of this.folded) if (t < keep) this.folded.delete(k);
    // Groups whose window and episode are over hold nothing.
    for (let i = 0; i < this.detectors.length; i++) {
      const d = this.detectors[i]!;
      for (const [group, state] of this.groups[i]!) {
        const lastSeen = state.recent.at(-1)?.time ?? -Infinity;
        if (
          Number.isFinite(until) &&
          lastSeen < until - d.windowMs &&
          state.lastTrigger < until - d.windowMs
        ) {
          this.close(d, group, state);
          this.groups[i]!.delete(group);
        }
      }
    }
  }

  private fold(i: number, e: Entry): void {
    const d = this.detectors[i]!;
    const group = d.groupOf(e.attempt);
    if (group === undefined) return;
    const groups = this.groups[i]!;
    let state = groups.get(group);
    if (!state) {
      state = {
        recent: [],
        failures: 0,
        users: d.countsUsers ? new Map() : undefined,
        lastTrigger: -Infinity,
        open: undefined,
      };
      groups.set(group, state);
    }
    const from = e.time - d.windowMs;
    let drop = 0;
    while (drop < state.recent.length && state.recent[drop]!.time < from) drop++;
    if (drop > 0) dropOldest(state, drop);
    state.recent.push(e);
    counted(state, e, 1);
    if (state.recent.length > this.cap) {
      this.dropped += state.recent.length - this.cap;
      dropOldest(state, state.recent.length - this.cap);
    }
    if (state.open && e.time - state.lastTrigger > d.windowMs) this.close(d, group, state);
    if (d.holds(state, e)) {
      if (!state.open && e.time - state.lastTrigger > d.windowMs) {
        // A new episode: the completing window is its first evidence.
        const ep: Episode = {
          completing: e,
          quiet: e.context,
          count: 0,
          first: state.recent[0]!.time,
          last: e.time,
          traceIds: [],
          users: [],
          sourceIps: [],
        };
        for (const r of state.recent) addEvidence(ep, r);
        state.open = ep;
      } else if (state.open) addEvidence(state.open, e);
      // A holding attempt within the window of the last one continues its episode, even one whose alert an
      // earlier run (or a context attempt) owns: it is never a second alert.
      state.lastTrigger = e.time;
    } else if (state.open) addEvidence(state.open, e);
  }

  private close(d: Detector, group: string, state: GroupState): void {
    const ep = state.open;
    state.open = undefined;
    if (!ep || ep.quiet) return;
    const c = ep.completing.attempt;
    const evidence: AlertEvidence = {
      count: ep.count,
      first: new Date(ep.first).toISOString(),
      last: new Date(ep.last).toISOString(),
      traceIds: ep.traceIds,
      users: ep.users,
      sourceIps: ep.sourceIps,
      group: `${d.kind}:${group}`,
      windowId: new Date(c.time).toISOString(),
    };
    this.closed.push({
      traceId: c.traceId,
      traceName: c.traceName,
      user: c.user,
      userId: userIdOf(c),
      domain: c.domain,
      sourceIp: c.sourceIp,
      time: new Date(c.time).toISOString(),
      region: c.region,
      object: c.object,
      // The file's verdict is known once it settles: WindowCarry sets it (never "valid" without a digest).
      integrity: "unverified",
      reason: "login-pattern",
      rule: d.rule,
      severity: d.severity,
      evidence,
    });
  }
}

/** Counts `e` into (`by` 1) or out of (`by` -1) the group's running counts. */
function counted(state: GroupState, e: Entry, by: 1 | -1): void {
  const a = e.attempt;
  if (a.outcome === "failure") state.failures += by;
  const users = state.users;
  if (users) {
    const n = (users.get(a.userKey) ?? 0) + by;
    if (n === 0) users.delete(a.userKey);
    else users.set(a.userKey, n);
  }
}

/** Removes the `n` oldest attempts of the group's window, and their counts. */
function dropOldest(state: GroupState, n: number): void {
  for (let i = 0; i < n; i++) counted(state, state.recent[i]!, -1);
  state.recent.splice(0, n);
}

function addEvidence(ep: Episode, e: Entry): void {
  ep.count++;
  ep.first = Math.min(ep.first, e.time);
  ep.last = Math.max(ep.last, e.time);
  pushBounded(ep.traceIds, e.attempt.traceId);
  pushBounded(ep.users, e.attempt.user);
  pushBounded(ep.sourceIps, e.attempt.sourceIp);
}

/** The user id part of a user key (`domain/userId`), as the alert's `userId`. */
function userIdOf(a: LoginAttempt): string {
  const slash = a.userKey.indexOf("/");
  return slash >= 0 ? a.userKey.slice(slash + 1) : a.userKey;
}
