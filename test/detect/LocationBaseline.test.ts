import { describe, expect, it } from "vitest";
import {
  BASELINE_CAP,
  DEFAULT_LOCATION_SETTINGS,
  expireBaseline,
  observeLogin,
  type LocationBaseline,
  type LocationObservation,
  type LocationSettings,
} from "../../src/detect/LocationBaseline.js";

const DAY = 86_400_000;
const T0 = Date.parse("2026-08-01T09:00:00Z");

/** The baseline after logins from one place once a day for `days` days. */
function history(days: number, place: Partial<LocationObservation> = {}): LocationBaseline | undefined {
  let b: LocationBaseline | undefined;
  for (let d = 0; d < days; d++)
    b = observeLogin(b, { time: T0 + d * DAY, country: "DE", asn: 3320, known: false, ...place }).baseline;
  return b;
}

describe("observeLogin: new-country and new-asn", () => {
  it.each([
    // 20 days from DE / AS3320, then the first login from elsewhere.
    {
      name: "another country and network",
      days: 20,
      login: { country: "CN", asn: 37963 },
      country: true,
      asn: true,
    },
    {
      name: "same country, other network",
      days: 20,
      login: { country: "DE", asn: 8881 },
      country: false,
      asn: true,
    },
    {
      name: "other country, same network",
      days: 20,
      login: { country: "AT", asn: 3320 },
      country: true,
      asn: false,
    },
    { name: "the usual place", days: 20, login: { country: "DE", asn: 3320 }, country: false, asn: false },
    {
      name: "a brand-new user (no history)",
      days: 0,
      login: { country: "CN", asn: 37963 },
      country: false,
      asn: false,
    },
    // 10 days of history is less than minHistoryDays (14): the baseline is still learning.
    {
      name: "history shorter than 14 days",
      days: 10,
      login: { country: "CN", asn: 37963 },
      country: false,
      asn: false,
    },
    // Logins on days 0-13, then one on day 14: 14 days of history, enough.
    {
      name: "exactly 14 days of history",
      days: 14,
      login: { country: "CN", asn: 37963 },
      country: true,
      asn: true,
    },
    {
      name: "a knownNetworks address",
      days: 20,
      login: { country: "CN", asn: 37963, known: true },
      country: false,
      asn: false,
    },
    // A private range has no country and no ASN: nothing can be new.
    {
      name: "no country or network (private range)",
      days: 20,
      login: { country: "" },
      country: false,
      asn: false,
    },
    { name: "country known, network not", days: 20, login: { country: "CN" }, country: true, asn: false },
  ])("$name", ({ days, login, country, asn }) => {
    const before = history(days);
    // The day after the history's last login: `days` days after its first.
    const at = T0 + days * DAY + 3_600_000;
    const v = observeLogin(before, { time: at, known: false, ...login });
    expect({ country: v.newCountry, asn: v.newAsn }).toEqual({ country, asn });
  });

  it("records the login: the same place again the next day is not new, and the history starts with a new user", () => {
    const first = observeLogin(history(20), { time: T0 + 20 * DAY, country: "CN", asn: 37963, known: false });
    expect(first.newCountry).toBe(true);
    expect(first.baseline.countries.CN).toEqual({ first: T0 + 20 * DAY, last: T0 + 20 * DAY });
    const again = observeLogin(first.baseline, {
      time: T0 + 21 * DAY,
      country: "CN",
      asn: 37963,
      known: false,
    });
    expect([again.newCountry, again.newAsn]).toEqual([false, false]);
    const fresh = observeLogin(undefined, { time: T0, country: "CN", asn: 1, known: false });
    expect(fresh.baseline).toEqual({
      firstLogin: T0,
      lastLogin: T0,
      countries: { CN: { first: T0, last: T0 } },
      asns: { "1": { first: T0, last: T0 } },
    });
  });

  it("a known network's login is still recorded (it is where the user logs in from)", () => {
    const v = observeLogin(history(20), { time: T0 + 20 * DAY, country: "US", asn: 64496, known: true });
    expect(v.baseline.countries.US).toBeDefined();
  });

  it.each([
    // Seen on days 0-19 (last: day 19). Exactly 90 days later is still within the window; 91 is not.
    { name: "seen 90 days before: not new", gapDays: 90, isNew: false },
    { name: "last seen 91 days before: new again", gapDays: 91, isNew: true },
  ])("expiry: a country $name", ({ gapDays, isNew }) => {
    // The user keeps logging in from FR daily, so the history never lapses; DE was last seen on day 19.
    let b = history(20);
    for (let d = 20; d <= 19 + gapDays; d++)
      b = observeLogin(b, { time: T0 + d * DAY, country: "FR", asn: 5410, known: false }).baseline;
    const v = observeLogin(b, {
      time: T0 + (19 + gapDays) * DAY,
      country: "DE",
      asn: 3320,
      known: false,
    });
    expect([v.newCountry, v.newAsn]).toEqual([isNew, isNew]);
  });

  it("expiry: a user away for more than 90 days starts again with no history (no alert)", () => {
    const v = observeLogin(history(20), {
      time: T0 + 19 * DAY + 91 * DAY,
      country: "CN",
      asn: 37963,
      known: false,
    });
    expect([v.newCountry, v.newAsn]).toEqual([false, false]);
    expect(v.baseline.firstLogin).toBe(T0 + 110 * DAY);
    expect(Object.keys(v.baseline.countries)).toEqual(["CN"]);
  });

  it("expireBaseline drops sightings past the window and keeps the rest", () => {
    const b: LocationBaseline = {
      firstLogin: 0,
      lastLogin: 100 * DAY,
      countries: { DE: { first: 0, last: 5 * DAY }, FR: { first: 0, last: 100 * DAY } },
      asns: {},
    };
    expect(expireBaseline(b, 100 * DAY, 90 * DAY)).toEqual({
      firstLogin: 10 * DAY,
      lastLogin: 100 * DAY,
      countries: { FR: { first: 0, last: 100 * DAY } },
      asns: {},
    });
    expect(expireBaseline(b, 191 * DAY, 90 * DAY)).toBeUndefined();
  });

  it.each([
    { rule: "new-country" as const, expected: [false, true] },
    { rule: "new-asn" as const, expected: [true, false] },
  ])("a rule turned off ($rule) raises nothing; the other still does", ({ rule, expected }) => {
    const settings: LocationSettings = {
      ...DEFAULT_LOCATION_SETTINGS,
      [rule]: { ...DEFAULT_LOCATION_SETTINGS[rule], enabled: false },
    };
    const v = observeLogin(
      history(20),
      { time: T0 + 20 * DAY, country: "CN", asn: 37963, known: false },
      settings,
    );
    expect([v.newCountry, v.newAsn]).toEqual(expected);
  });

  it("settings: days and minHistoryDays from the rules file apply", () => {
    const settings: LocationSettings = {
      "new-country": { enabled: true, severity: "high", days: 7, minHistoryDays: 3 },
      "new-asn": { enabled: true, severity: "low", days: 7, minHistoryDays: 3 },
    };
    let b = observeLogin(undefined, { time: T0, country: "DE", asn: 1, known: false }, settings).baseline;
    // 3 days of history: enough; DE last seen 8 days before: new again under a 7-day window.
    b = observeLogin(b, { time: T0 + 3 * DAY, country: "FR", asn: 2, known: false }, settings).baseline;
    const v = observeLogin(b, { time: T0 + 8 * DAY + 1, country: "DE", asn: 1, known: false }, settings);
    expect([v.newCountry, v.newAsn]).toEqual([true, true]);
  });

  it(`is bounded: at most ${BASELINE_CAP} countries and networks a user, the least recently seen dropped`, () => {
    let b: LocationBaseline | undefined;
    for (let i = 0; i < BASELINE_CAP + 10; i++)
      b = observeLogin(b, { time: T0 + i * 60_000, country: `C${i}`, asn: i, known: false }).baseline;
    expect(Object.keys(b!.countries)).toHaveLength(BASELINE_CAP);
    expect(Object.keys(b!.asns)).toHaveLength(BASELINE_CAP);
    expect(b!.countries.C0).toBeUndefined();
    expect(b!.countries[`C${BASELINE_CAP + 9}`]).toBeDefined();
  });
});
