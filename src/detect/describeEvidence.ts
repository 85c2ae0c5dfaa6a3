import { escapeControl } from "../safeText.js";
import type { Alert } from "./types.js";
import { EVIDENCE_LIST_MAX } from "./WindowedRules.js";

/** Names shown of an evidence list (users, addresses); the rest are counted. */
export const EVIDENCE_NAMES_SHOWN = 3;

/**
 * A bounded list for a person: `192.0.2.10`, or `3 users: ivan, judy, kim`, or `7 users: a, b, c, +4 more`.
 * The lists an alert carries stop at {@link EVIDENCE_LIST_MAX}: a full list may have been cut, so its count is
 * a lower bound (`20+ users: a, b, c, and more`).
 */
function names(values: readonly string[], many: string): string {
  const shown = values.slice(0, EVIDENCE_NAMES_SHOWN).map(escapeControl);
  const more = values.length - shown.length;
  if (values.length === 1) return shown[0]!;
  const cut = values.length >= EVIDENCE_LIST_MAX;
  const total = `${values.length}${cut ? "+" : ""}`;
  const rest = more > 0 ? (cut ? ", and more" : `, +${more} more`) : "";
  return `${total} ${many}: ${shown.join(", ")}${rest}`;
}

function duration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  const min = Math.round(ms / 60_000);
  return min < 120 ? `${min} min` : `${Math.round(min / 6) / 10} h`;
}

/** `23:40–23:52 UTC`, with dates when the span is not within one UTC day. */
function span(first: Date, last: Date): string {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const hm = (d: Date) => d.toISOString().slice(11, 16);
  if (day(first) !== day(last)) return `${day(first)} ${hm(first)}–${day(last)} ${hm(last)} UTC`;
  return first.getTime() === last.getTime() ? `${hm(first)} UTC` : `${hm(first)}–${hm(last)} UTC`;
}

/**
 * What a windowed alert saw, in one line for a person (digest, text report, HTML table), e.g. `5 failed logins
 * of frank in 12 min, 23:40–23:52 UTC, from 192.0.2.10`; undefined for an alert without evidence. Every list is
 * cut to {@link EVIDENCE_NAMES_SHOWN} names and counted; fields from traces have control characters escaped
 * (callers still escape for their medium: HTML, redaction).
 */
export function describeEvidence(alert: Alert): string | undefined {
  const ev = alert.evidence;
  if (!ev) return undefined;
  const first = new Date(ev.first);
  const last = new Date(ev.last);
  const when =
    Number.isNaN(first.getTime()) || Number.isNaN(last.getTime())
      ? ""
      : ` in ${duration(last.getTime() - first.getTime())}, ${span(first, last)}`;
  const user = escapeControl(alert.user || alert.userId || "(unknown user)");
  const users = ev.users.length > 0 ? names(ev.users, "users") : "(no user recorded)";
  const from = ev.sourceIps.length > 0 ? names(ev.sourceIps, "addresses") : "(no source IP)";
  const count = (what: string) => `${ev.count} ${what}${ev.count === 1 ? "" : "s"}`;
  // The time comes before the lists: a list's own commas would otherwise run into it.
  switch (alert.rule) {
    case "password-spray":
      return `failed logins against ${users}; ${count("attempt")}${when}, from ${from}`;
    case "failures-then-success":
      return `${user} logged in after failed logins; ${count("login attempt")}${when}, from ${from}`;
    default:
      return ev.group?.startsWith("ip:")
        ? `${count("failed login")} from ${from}${when}, against ${users}`
        : `${count("failed login")} of ${user}${when}, from ${from}`;
  }
}
