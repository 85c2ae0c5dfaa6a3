import { describeEvidence } from "../detect/describeEvidence.js";
import { SEVERITY_ORDER } from "../detect/RulesConfig.js";
import type { Alert, RuleId, Severity } from "../detect/types.js";
import { escapeControl, hasControl, redactSecrets } from "../safeText.js";
import { describePlace } from "../enrich/enrichAlerts.js";
import type { AlertDigest } from "./types.js";

/** An integrity finding worth telling a person about (a file or a digest that is not valid). */
export interface IntegrityFinding {
  object: string;
  verdict: string;
  detail: string;
}

/** Size limits of the sink. */
export interface DigestLimits {
  /** Bytes per part of the full text; SMN allows 256 KB a message. */
  maxPartBytes: number;
  maxSubjectBytes: number;
  maxSmsChars: number;
}

/** SMN's limits; parts keep 6 KB of headroom under the 256 KB message limit for JSON escaping. */
export const SMN_LIMITS: DigestLimits = { maxPartBytes: 250 * 1024, maxSubjectBytes: 512, maxSmsChars: 489 };

interface Group {
  sourceIp: string;
  /** Country and network of the address (`RU, AS13238 YANDEX LLC`), or why there is none; "" when not looked up. */
  place: string;
  /** The place came from the data (a country or an ASN), not only a note: the data's attribution is due. */
  fromData: boolean;
  user: string;
  domain: string;
  count: number;
  first: string;
  last: string;
  names: string[];
  integrity: Set<string>;
  reasons: Set<string>;
  failed: number;
}

const REASON_TEXT: Record<string, string> = {
  "not-allowlisted": "",
  "missing-source-ip": "no source IP recorded",
  "invalid-source-ip": "source IP is not a valid address",
  "owner-login": "the account owner (root) logged in",
  "login-protection-off": "console login with login protection off",
  "tracker-deleted": "a CTS tracker was deleted",
  "tracker-disabled": "a CTS tracker was disabled",
  "verification-off": "trace file verification was switched off",
  "transfer-off": "trace transfer to OBS was switched off",
  "tracker-update-unrecorded": "a CTS tracker was updated (request not recorded: it may have been weakened)",
  "notification-deleted": "a CTS key event notification was deleted",
  "notification-disabled": "a CTS key event notification was disabled",
  "notification-update-unrecorded":
    "a CTS key event notification was updated (request not recorded: it may have been disabled)",
  "mfa-unbound": "a virtual MFA device was unbound",
};

// An alert from before rules had ids is an ip-not-allowed alert (the only rule there was), of its severity.
const ruleOf = (a: Alert): RuleId => a.rule ?? "ip-not-allowed";
const severityOf = (a: Alert): Severity => a.severity ?? "high";
const rank = (s: Severity) => SEVERITY_ORDER.indexOf(s);

/** One rule's alerts in the digest, with its worst severity. */
interface RuleSection {
  rule: RuleId;
  severity: Severity;
  alerts: Alert[];
}

/** Alerts by rule, the worst severity first (then the rule id, for a stable order). */
function sections(alerts: readonly Alert[]): RuleSection[] {
  const byRule = new Map<RuleId, RuleSection>();
  for (const a of alerts) {
    const rule = ruleOf(a);
    let s = byRule.get(rule);
    if (!s) byRule.set(rule, (s = { rule, severity: severityOf(a), alerts: [] }));
    if (rank(severityOf(a)) > rank(s.severity)) s.severity = severityOf(a);
    s.alerts.push(a);
  }
  return [...byRule.values()].sort(
    (a, b) => rank(b.severity) - rank(a.severity) || byCodeUnit(a.rule, b.rule),
  );
}

/** The alert a person should look at first: the highest severity, then the earliest. */
function worstAlert(alerts: readonly Alert[]): Alert | undefined {
  let worst: Alert | undefined;
  for (const a of alerts) {
    if (
      !worst ||
      rank(severityOf(a)) > rank(severityOf(worst)) ||
      (rank(severityOf(a)) === rank(severityOf(worst)) && byCodeUnit(a.time, worst.time) < 0)
    )
      worst = a;
  }
  return worst;
}

function describeAlert(a: Alert): string {
  const who = a.user ? `${a.user}${a.domain ? ` (${a.domain})` : ""}` : "(unknown user)";
  const evidence = describeEvidence(a);
  if (evidence) return `${severityOf(a)} ${ruleOf(a)}: ${evidence}`;
  return `${severityOf(a)} ${ruleOf(a)}: ${a.traceName} by ${who} from ${a.sourceIp || "(no source IP)"}${a.time ? ` at ${a.time}` : ""}`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = text;
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, -1);
  return `${out}...`;
}

function groupAlerts(alerts: readonly Alert[]): Group[] {
  const groups = new Map<string, Group>();
  for (const a of alerts) {
    const id = `${a.sourceIp}\u0000${a.user}\u0000${a.domain}`;
    let g = groups.get(id);
    if (!g) {
      g = {
        sourceIp: a.sourceIp,
        place: describePlace(a),
        fromData: !!a.country || a.asn !== undefined,
        user: a.user,
        domain: a.domain,
        count: 0,
        first: a.time,
        last: a.time,
        names: [],
        integrity: new Set(),
        reasons: new Set(),
        failed: 0,
      };
      groups.set(id, g);
    }
    g.count++;
    if (a.time && (!g.first || a.time < g.first)) g.first = a.time;
    if (a.time > g.last) g.last = a.time;
    g.names.push(a.traceName);
    g.integrity.add(a.integrity);
    if (REASON_TEXT[a.reason]) g.reasons.add(REASON_TEXT[a.reason]!);
    if (a.fileError) g.failed++;
  }
  // Most events first; ties by IP then user, so the digest is the same whatever the read order.
  return [...groups.values()].sort(
    (a, b) => b.count - a.count || byCodeUnit(a.sourceIp, b.sourceIp) || byCodeUnit(a.user, b.user),
  );
}

/** Counts trace names case-insensitively (`loginFailed` and `loginfailed` are one event), keeping the first spelling. */
function countNames(names: Iterable<string>): Map<string, number> {
  const spelling = new Map<string, string>();
  const counts = new Map<string, number>();
  for (const name of names) {
    const id = name.toLowerCase();
    if (!spelling.has(id)) spelling.set(id, name);
    const shown = spelling.get(id)!;
    counts.set(shown, (counts.get(shown) ?? 0) + 1);
  }
  return counts;
}

// Plain code-unit order, not localeCompare: the same order on every machine whatever its locale, without ICU
// collation (the costliest part of building the digest of a large scan, in a profile).
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeNames(names: Map<string, number>): string {
  return [...names.entries()]
    .sort((a, b) => b[1] - a[1] || byCodeUnit(a[0], b[0]))
    .map(([name, n]) => (n === 1 ? name : `${name} x${n}`))
    .join(", ");
}

/**
 * An alert whose printed fields carry no control characters: a user name, trace name or address with a newline,
 * an escape sequence, U+2028 or a bidi override could otherwise forge a line of the alert or recolour a terminal.
 */
function safeAlert(a: Alert): Alert {
  const printed = [
    a.sourceIp,
    a.user,
    a.domain,
    a.time,
    a.traceName,
    a.integrity,
    a.reason,
    a.asOrg ?? "",
    a.geoNote ?? "",
    a.country ?? "",
  ];
  if (!printed.some(hasControl)) return a;
  return {
    ...a,
    sourceIp: escapeControl(a.sourceIp),
    user: escapeControl(a.user),
    domain: escapeControl(a.domain),
    time: escapeControl(a.time),
    traceName: escapeControl(a.traceName),
    integrity: escapeControl(a.integrity) as Alert["integrity"],
    // A user's own .mmdb is data from outside too.
    ...(a.asOrg === undefined ? {} : { asOrg: escapeControl(a.asOrg) }),
    ...(a.geoNote === undefined ? {} : { geoNote: escapeControl(a.geoNote) }),
    ...(a.country === undefined ? {} : { country: escapeControl(a.country) }),
  };
}

function safeFinding(f: IntegrityFinding): IntegrityFinding {
  return {
    object: escapeControl(f.object),
    verdict: escapeControl(f.verdict),
    detail: escapeControl(f.detail),
  };
}

/**
 * Builds the one alert digest of a run: a headline, then alerts grouped by source IP and user (counts, first and
 * last time, trace names, integrity of the files they came from), then integrity findings. Returns undefined when
 * there is nothing to tell.
 */
export function buildDigest(
  rawAlerts: readonly Alert[],
  rawFindings: readonly IntegrityFinding[],
  context: { window?: string; sources: readonly string[]; attribution?: string },
  limits: DigestLimits = SMN_LIMITS,
): AlertDigest | undefined {
  if (rawAlerts.length === 0 && rawFindings.length === 0) return undefined;
  // Every field printed is escaped, and every text built is redacted: the digest leaves the process (SMN, a file,
  // stdout, a saved unsent digest) and its fields come from traces and error messages.
  const alerts = rawAlerts.map(safeAlert);
  const findings = rawFindings.map(safeFinding);
  const where = {
    window: context.window === undefined ? undefined : escapeControl(context.window),
    sources: context.sources.map(escapeControl),
  };
  const ruleSections = sections(alerts);
  const groups = groupAlerts(alerts);
  const ips = new Set(alerts.map((a) => a.sourceIp || "(none)"));
  const times = alerts
    .map((a) => a.time)
    .filter((t) => t !== "")
    .sort();
  const span = times.length > 0 ? `${times[0]} to ${times[times.length - 1]}` : "";
  const kinds = countNames(alerts.map((a) => a.traceName));
  const parts: string[] = [];
  if (alerts.length > 0 && ruleSections.every((r) => r.rule === "ip-not-allowed")) {
    parts.push(
      `${plural(alerts.length, "alert")} from ${plural(ips.size, "source IP")} outside the allowlist (${describeNames(kinds)})`,
    );
  } else if (alerts.length > 0) {
    // The worst rule first: the headline (and the subject cut from it) leads with the highest severity.
    const perRule = ruleSections.map((r) => `${r.alerts.length} ${r.rule} (${r.severity})`);
    parts.push(`${plural(alerts.length, "alert")}: ${perRule.join(", ")}`);
  }
  if (findings.length > 0) parts.push(`${plural(findings.length, "integrity violation")}`);
  const headline = redactSecrets(`cts-audit: ${parts.join("; ")}${span ? `, ${span}` : ""}`);

  const blocks: string[] = [];
  const header = [
    headline,
    `Sources: ${where.sources.join(", ")}${where.window ? `; window ${where.window}` : ""}`,
  ];
  blocks.push(header.join("\n"));
  for (const section of ruleSections) {
    blocks.push(
      [
        "",
        `[${section.severity}] ${section.rule}: ${plural(section.alerts.length, "alert")}, by source IP and user:`,
      ].join("\n"),
    );
    // A windowed alert is already one episode of many traces: it is listed with what it saw, not grouped.
    const windowed = section.alerts.filter((a) => a.evidence);
    for (const a of [...windowed].sort((x, y) => byCodeUnit(x.time, y.time))) {
      const who = a.user ? `${a.user}${a.domain ? ` (${a.domain})` : ""}` : "(unknown user)";
      const ev = a.evidence!;
      const when = ev.first === ev.last ? ev.first : `${ev.first} to ${ev.last}`;
      const notes = a.fileError ? "; the completing trace's file failed to read completely" : "";
      blocks.push(
        [
          `- ${a.sourceIp || "(no source IP)"}  ${who}: ${describeEvidence(a)}`,
          `    ${escapeControl(when)}; file integrity: ${a.integrity}${notes}`,
        ].join("\n"),
      );
    }
    for (const g of groupAlerts(section.alerts.filter((a) => !a.evidence))) {
      const who = g.user ? `${g.user}${g.domain ? ` (${g.domain})` : ""}` : "(unknown user)";
      const when = g.first === g.last ? g.first : `${g.first} to ${g.last}`;
      const notes = [...g.reasons];
      if (g.failed > 0) notes.push(`${g.failed} from files that failed to read completely`);
      blocks.push(
        [
          `- ${g.sourceIp || "(no source IP)"}${g.place ? ` (${g.place})` : ""}  ${who}: ${plural(g.count, "event")} (${describeNames(countNames(g.names))})`,
          `    ${when || "time unknown"}; file integrity: ${[...g.integrity].sort().join(", ")}${notes.length ? `; ${notes.join("; ")}` : ""}`,
        ].join("\n"),
      );
    }
  }
  if (findings.length > 0) {
    blocks.push(["", "Integrity violations:"].join("\n"));
    for (const f of findings) blocks.push(`- ${f.verdict}: ${f.object}${f.detail ? ` (${f.detail})` : ""}`);
  }

  // Last: the data's licence (CC BY 4.0 for ASN) asks for attribution where its results are shown.
  if (context.attribution && groups.some((g) => g.fromData)) {
    blocks.push(`\n${escapeControl(context.attribution)}`);
  }

  const subject = truncateBytes(headline, limits.maxSubjectBytes);
  const worst = worstAlert(alerts);
  // The SMS names the worst alert whatever the headline's length: the headline is cut to leave it room.
  const worstText = worst ? redactSecrets(`. Worst: ${describeAlert(worst)}`) : "";
  const topIps = groups
    .slice(0, 5)
    .map((g) => `${g.sourceIp || "none"} ${g.user}`.trim())
    .join("; ");
  const smsHead = truncateBytes(
    headline,
    Math.max(60, limits.maxSmsChars - Buffer.byteLength(worstText) - 40),
  );
  const sms = truncateBytes(
    redactSecrets(
      `${smsHead}${worstText}${topIps ? `. Top: ${topIps}` : ""}${groups.length > 5 ? ` (+${groups.length - 5} more)` : ""}`,
    ),
    limits.maxSmsChars,
  ).slice(0, limits.maxSmsChars);
  return {
    subject,
    headline,
    parts: splitParts(blocks.map(redactSecrets), limits.maxPartBytes),
    sms,
    alerts: alerts.length,
    violations: findings.length,
  };
}

// Room for the "(part 12/34)\n" marker that every part of a split digest starts with.
const MARKER_RESERVE = 32;

/**
 * Packs blocks into parts of at most `maxBytes` bytes each, in order, numbered when there is more than one. A
 * block larger than a part on its own is cut at line boundaries (and a line at character boundaries): nothing is
 * dropped.
 */
export function splitParts(blocks: readonly string[], maxBytes: number): string[] {
  const whole = blocks.join("\n");
  if (Buffer.byteLength(whole) <= maxBytes) return [whole];
  const budget = maxBytes - MARKER_RESERVE;
  if (budget < 64) throw new RangeError(`part size ${maxBytes} is too small`);
  const pieces: string[] = [];
  for (const block of blocks) {
    if (Buffer.byteLength(block) <= budget) pieces.push(block);
    else {
      for (const line of block.split("\n")) {
        let rest = line;
        while (Buffer.byteLength(rest) > budget) {
          let cut = Math.min(rest.length, budget);
          while (Buffer.byteLength(rest.slice(0, cut)) > budget) cut--;
          pieces.push(rest.slice(0, cut));
          rest = rest.slice(cut);
        }
        pieces.push(rest);
      }
    }
  }
  // Sizes are kept as running totals: measuring the growing part again for each piece is quadratic.
  const parts: string[] = [];
  let current: string[] = [];
  let currentBytes = 0;
  for (const piece of pieces) {
    const bytes = Buffer.byteLength(piece);
    const added = current.length === 0 ? bytes : currentBytes + 1 + bytes;
    if (current.length > 0 && added > budget) {
      parts.push(current.join("\n"));
      current = [piece];
      currentBytes = bytes;
    } else {
      current.push(piece);
      currentBytes = added;
    }
  }
  if (current.length > 0) parts.push(current.join("\n"));
  return parts.map((p, i) => `(part ${i + 1}/${parts.length})\n${p}`);
}
