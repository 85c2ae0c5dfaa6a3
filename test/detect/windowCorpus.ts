import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import type { Alert } from "../../src/detect/types.js";
import { DEFAULT_RULES } from "../../src/detect/RulesConfig.js";
import type { WindowedSettings } from "../../src/detect/WindowedRules.js";
import { alertKey } from "../../src/state/alertKey.js";

export const MIN = 60_000;
export const SETTINGS: WindowedSettings = DEFAULT_RULES.rules;
/** Midnight between two day folders (and two nightly runs). */
export const MIDNIGHT = Date.parse("2024-07-20T00:00:00Z");

let seq = 0;

/** One attempt at `MIDNIGHT + minutes`. */
export function at(
  minutes: number,
  user: string,
  ip: string,
  outcome: "success" | "failure" = "failure",
): LoginAttempt {
  const time = MIDNIGHT + Math.round(minutes * MIN);
  const day = new Date(time).toISOString().slice(0, 10);
  return {
    time,
    traceId: `t${String(++seq).padStart(6, "0")}`,
    traceName: outcome === "success" ? "login" : "loginFailed",
    outcome,
    user,
    userKey: `corp/${user}`,
    domain: "corp",
    sourceIp: ip,
    object: `CloudTraces/cn-north-4/${day.replaceAll("-", "/")}/IAM/file.json.gz`,
    region: "cn-north-4",
  };
}

/** Minutes `start, start+step, ...` (`count` of them). */
export const every = (start: number, step: number, count: number) =>
  Array.from({ length: count }, (_, i) => start + i * step);

/**
 * The planted corpus: each pattern and its near miss, in groups far enough apart (own users and addresses) not
 * to meet. `expect` is the `<rule>:<group>` of every alert it must give, exactly.
 */
export function plantedCorpus(): { attempts: LoginAttempt[]; expected: string[] } {
  const a: LoginAttempt[] = [];
  const expected: string[] = [];
  // brute-force by user: 4 failures within exactly 15 minutes, straddling midnight.
  for (const m of every(-10, 5, 4)) a.push(at(m, "bf-user", "198.51.100.1"));
  expected.push("brute-force:user:corp/bf-user");
  // near miss: 3 failures in 15 minutes; 4 failures over 16 minutes.
  for (const m of every(0, 5, 3)) a.push(at(m, "bf-three", "198.51.100.2"));
  for (const m of [0, 5, 10, 16]) a.push(at(m, "bf-sixteen", "198.51.100.3"));
  // brute-force by address: 10 failures within 15 minutes from one address, of 10 users once each (so also a
  // spray; no user reaches 4).
  for (const [i, m] of every(-7, 1.5, 10).entries()) a.push(at(m, `ip-victim-${i}`, "203.0.113.10"));
  expected.push("brute-force:ip:203.0.113.10", "password-spray:ip:203.0.113.10");
  // near miss: 9 from one address (3 users with 3 each: no user reaches 4; also a spray over 3 users).
  for (const [i, m] of every(-7, 1.5, 9).entries()) a.push(at(m, `nine-${i % 3}`, "203.0.113.11"));
  expected.push("password-spray:ip:203.0.113.11");
  // password-spray: 3 users from one address within 60 minutes, across midnight.
  for (const [i, m] of [-40, -5, 19].entries()) a.push(at(m, `spray-${i}`, "203.0.113.20"));
  expected.push("password-spray:ip:203.0.113.20");
  // near misses: 2 users (many failures each, spread so that neither is brute force); 3 users over 61 minutes.
  for (const [i, m] of every(-50, 20, 6).entries()) a.push(at(m, i % 2 ? "two-b" : "two-a", "203.0.113.21"));
  for (const [i, m] of [0, 30, 61].entries()) a.push(at(m, `slow-${i}`, "203.0.113.22"));
  // failures-then-success: 3 failures, then a success within the hour.
  for (const m of [-30, -20, -10]) a.push(at(m, "fts", "198.51.100.30"));
  a.push(at(25, "fts", "198.51.100.30", "success"));
  expected.push("failures-then-success:user:corp/fts");
  // near misses: 2 failures then a success; 3 failures and a success 62 minutes after the first (only the third
  // is within its hour).
  for (const m of [0, 10]) a.push(at(m, "fts-two", "198.51.100.31"));
  a.push(at(20, "fts-two", "198.51.100.31", "success"));
  for (const m of [0, 1, 2]) a.push(at(m, "fts-late", "198.51.100.32"));
  a.push(at(62, "fts-late", "198.51.100.32", "success"));
  // One sustained attack (a failure every 3 minutes for 2 hours): one episode, one alert.
  for (const m of every(100, 3, 40)) a.push(at(m, "sustained", "198.51.100.40"));
  expected.push("brute-force:user:corp/sustained");
  // Two bursts two hours apart: two alerts.
  for (const m of [...every(300, 1, 4), ...every(420, 1, 4)]) a.push(at(m, "twice", "198.51.100.41"));
  expected.push("brute-force:user:corp/twice", "brute-force:user:corp/twice");
  return { attempts: a, expected: expected.sort() };
}

/** `<rule>:<group>` of each alert, sorted. */
export const ruleGroups = (alerts: readonly Alert[]) =>
  alerts.map((x) => `${x.rule}:${x.evidence?.group}`).sort();

/** A comparable form of alerts: key, completing trace, evidence. */
export const canonical = (alerts: ReadonlyArray<Parameters<typeof alertKey>[0]>) =>
  alerts
    .map((x) => ({ key: alertKey(x), traceId: x.traceId, time: x.time, evidence: x.evidence }))
    .sort((p, q) => (p.key < q.key ? -1 : p.key > q.key ? 1 : 0));
