import type { Severity } from "./types.js";

const DAY_MS = 86_400_000;

/** When one country or network was seen in a user's successful logins (epoch ms). */
export interface Sighting {
  first: number;
  last: number;
}

/**
 * Where a user logs in from (DESIGN "State and idempotency": the per-user baseline the ledger keeps): the span of
 * the user's successful logins the ledger holds, and the countries and networks (ASN, decimal text) seen in them.
 */
export interface LocationBaseline {
  /** Epoch ms of the first and last successful login the baseline holds. */
  firstLogin: number;
  lastLogin: number;
  /** ISO 3166 alpha-2 → when seen. */
  countries: Record<string, Sighting>;
  /** ASN (decimal text) → when seen. */
  asns: Record<string, Sighting>;
}

/** Settings of `new-country` or `new-asn` (rules file `rules.new-country` / `rules.new-asn`). */
export interface LocationRuleSettings {
  enabled: boolean;
  severity: Severity;
  /** A country/network not seen for this many days is new. */
  days: number;
  /** No alert until the baseline holds this many days of the user's logins. */
  minHistoryDays: number;
}

/** The effective settings of both rules, defaulted (DESIGN: on, medium, 90 days, 14 days of history). */
export interface LocationSettings {
  "new-country": LocationRuleSettings;
  "new-asn": LocationRuleSettings;
}

/** The defaults of DESIGN "Detection"; the rules file (issue 14) overrides them. */
export const DEFAULT_LOCATION_SETTINGS: LocationSettings = {
  "new-country": { enabled: true, severity: "medium", days: 90, minHistoryDays: 14 },
  "new-asn": { enabled: true, severity: "medium", days: 90, minHistoryDays: 14 },
};

/**
 * Countries and networks kept per user, each. A person logs in from a handful; the cap bounds what a hostile or
 * roaming account (a botnet's logins into one user) can make the ledger hold. Over the cap the least recently seen
 * go first, so what is dropped is what would soonest expire anyway.
 */
export const BASELINE_CAP = 64;

/** One successful login, as the baseline needs it. */
export interface LocationObservation {
  /** Epoch ms. */
  time: number;
  /** ISO 3166 alpha-2; `""` when unknown (private range, not in the data): then `new-country` cannot apply. */
  country: string;
  /** Undefined when unknown: then `new-asn` cannot apply. */
  asn?: number;
  /** The address or its ASN is in the rules file's `knownNetworks`: never new. */
  known: boolean;
}

/** What one login decides. */
export interface LocationVerdict {
  /** The baseline after the login. */
  baseline: LocationBaseline;
  newCountry: boolean;
  newAsn: boolean;
}

/** How long a baseline keeps a sighting or a login span: the longer of the two rules' windows. */
export function baselineRetentionMs(settings: LocationSettings): number {
  return Math.max(settings["new-country"].days, settings["new-asn"].days) * DAY_MS;
}

/**
 * Drops what is older than the retention as of `now`: sightings last seen before it, and the whole baseline when
 * the user's last login is (the history then starts again, and a returning user is "no history", never alerted).
 */
export function expireBaseline(
  baseline: LocationBaseline | undefined,
  now: number,
  retentionMs: number,
): LocationBaseline | undefined {
  if (!baseline) return undefined;
  const cutoff = now - retentionMs;
  if (baseline.lastLogin < cutoff) return undefined;
  const keep = (m: Record<string, Sighting>) =>
    Object.fromEntries(Object.entries(m).filter(([, s]) => s.last >= cutoff));
  return {
    firstLogin: Math.max(baseline.firstLogin, cutoff),
    lastLogin: baseline.lastLogin,
    countries: keep(baseline.countries),
    asns: keep(baseline.asns),
  };
}

/**
 * Decides `new-country` and `new-asn` for one successful login, then records it (pure: the caller stores the
 * result). A rule alerts only when it is enabled, the login's country/ASN is known and not in `knownNetworks`, the
 * baseline before this login holds at least `minHistoryDays` of the user's logins, and the value was not seen in
 * the `days` before the login. A user with no baseline never alerts: the first login starts the history.
 *
 * Deterministic for a given order of logins: callers feed them sorted by time (then trace id).
 */
export function observeLogin(
  before: LocationBaseline | undefined,
  login: LocationObservation,
  settings: LocationSettings = DEFAULT_LOCATION_SETTINGS,
): LocationVerdict {
  const retention = baselineRetentionMs(settings);
  const baseline = expireBaseline(before, login.time, retention);
  const isNew = (rule: LocationRuleSettings, seen: Record<string, Sighting>, value: string): boolean => {
    if (!rule.enabled || login.known || value === "" || !baseline) return false;
    if (login.time - baseline.firstLogin < rule.minHistoryDays * DAY_MS) return false;
    const s = seen[value];
    return !s || s.last < login.time - rule.days * DAY_MS;
  };
  const asnText = login.asn === undefined ? "" : String(login.asn);
  const newCountry = isNew(settings["new-country"], baseline?.countries ?? {}, login.country);
  const newAsn = isNew(settings["new-asn"], baseline?.asns ?? {}, asnText);

  const after: LocationBaseline = {
    firstLogin: Math.min(baseline?.firstLogin ?? login.time, login.time),
    lastLogin: Math.max(baseline?.lastLogin ?? login.time, login.time),
    countries: see(baseline?.countries ?? {}, login.country, login.time),
    asns: see(baseline?.asns ?? {}, asnText, login.time),
  };
  return { baseline: after, newCountry, newAsn };
}

function see(map: Record<string, Sighting>, value: string, time: number): Record<string, Sighting> {
  if (value === "") return map;
  const old = map[value];
  const out = {
    ...map,
    [value]: old
      ? { first: Math.min(old.first, time), last: Math.max(old.last, time) }
      : { first: time, last: time },
  };
  const keys = Object.keys(out);
  if (keys.length <= BASELINE_CAP) return out;
  // Least recently seen first, ties by value: the same input keeps the same entries.
  keys.sort((a, b) => out[a]!.last - out[b]!.last || (a < b ? -1 : 1));
  for (const k of keys.slice(0, keys.length - BASELINE_CAP)) delete out[k];
  return out;
}

/** Merges two baselines of one user (e.g. written by two concurrent runs): the union, earliest first, latest last. */
export function mergeBaselines(a: LocationBaseline, b: LocationBaseline): LocationBaseline {
  const merge = (x: Record<string, Sighting>, y: Record<string, Sighting>) => {
    const out: Record<string, Sighting> = { ...x };
    for (const [k, s] of Object.entries(y)) {
      const o = out[k];
      out[k] = o ? { first: Math.min(o.first, s.first), last: Math.max(o.last, s.last) } : s;
    }
    return out;
  };
  return {
    firstLogin: Math.min(a.firstLogin, b.firstLogin),
    lastLogin: Math.max(a.lastLogin, b.lastLogin),
    countries: merge(a.countries, b.countries),
    asns: merge(a.asns, b.asns),
  };
}

/** Whether a value read from a ledger is a baseline this version understands. */
export function isLocationBaseline(x: unknown): x is LocationBaseline {
  if (typeof x !== "object" || x === null) return false;
  const b = x as Record<string, unknown>;
  const sightings = (m: unknown) =>
    typeof m === "object" &&
    m !== null &&
    Object.values(m).every(
      (s) =>
        typeof s === "object" &&
        s !== null &&
        typeof (s as Sighting).first === "number" &&
        typeof (s as Sighting).last === "number",
    );
  return (
    typeof b.firstLogin === "number" &&
    typeof b.lastLogin === "number" &&
    sightings(b.countries) &&
    sightings(b.asns)
  );
}
