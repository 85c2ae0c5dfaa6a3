import { describeEvidence } from "../detect/describeEvidence.js";
import type { Alert } from "../detect/types.js";
import {
  addressOf,
  alertTimeline,
  countryOf,
  ruleOf,
  severityLegend,
  severityOf,
  SEVERITY_STYLE,
  topBars,
  topCounts,
  userOf,
} from "./alertTimeline.js";
import { escapeHtml, html } from "./escapeHtml.js";
import { VERDICT_STYLE, chainLabel, integrityCalendar } from "./integrityCalendar.js";
import type { Bounded } from "./Bounded.js";
import type { HtmlTally, ObjectProblem } from "./HtmlTally.js";
import type { ReportHeader, ReportTail } from "./types.js";

/** Rows of the alert table; past this the page says how many more the json report holds. */
export const ALERT_ROWS = 5000;

// No external resource of any kind: the policy makes the browser refuse one even if some text slipped through.
const CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const CSS = `
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --line: #d9d9de; --bg: #fff; --panel: #f6f7f9; }
* { box-sizing: border-box; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0 auto; max-width: 1180px; padding: 20px 28px 40px; color: var(--ink); background: var(--bg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 4px; } .muted { color: var(--muted); font-weight: normal; font-size: 12px; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 10px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; color: #fff; }
.ok { background: #2e7d32; } .warn { background: #b26a00; } .bad { background: #b00020; }
.headline { font-size: 16px; margin: 6px 0 14px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; background: var(--panel); padding: 10px 14px; border-radius: 6px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; padding: 0; list-style: none; }
.counts li { background: var(--panel); border-radius: 6px; padding: 6px 12px; } .counts b { font-size: 18px; display: block; }
.banner { background: #fde7ea; border-left: 5px solid #b00020; padding: 8px 12px; margin: 12px 0; }
ul.legend { list-style: none; padding: 0; margin: 6px 0 10px; display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; }
ul.legend li { display: flex; align-items: center; gap: 4px; } ul.legend svg { flex: none; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
svg .cell text { font-weight: 700; }
svg rect.empty { fill: #fff; stroke: #cfd2d8; stroke-dasharray: 2 2; }
svg .hour, svg .day, svg .tick { fill: var(--muted); }
svg .grid { stroke: #e6e7eb; } svg .lane-line { stroke: #d0d3d9; } svg .lane-note { fill: var(--muted); }
svg .alert-dot { stroke: #222; stroke-width: 0.6; fill-opacity: 0.9; }
figure.top { margin: 0; } figure.top figcaption { font-weight: 600; margin-bottom: 4px; }
figure.top rect { fill: #4a6fa5; } .tops { display: grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap: 14px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: var(--panel); position: sticky; top: 0; } td.key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11.5px; overflow-wrap: anywhere; min-width: 24ch; }
.nowrap { white-space: nowrap; overflow-wrap: normal; }
.verdict { display: inline-block; padding: 0 6px; border-radius: 4px; font-weight: 600; white-space: nowrap; }
.sev { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 4px; vertical-align: baseline; }
footer { margin-top: 30px; color: var(--muted); font-size: 12px; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  body { max-width: none; padding: 0; font-size: 11px; }
  h2 { break-after: avoid; } section.chain, figure, svg, tr { break-inside: avoid; }
  thead { display: table-header-group; } th { position: static; }
  .scroll { overflow: visible; }
}
`;

const EXIT_MEANING: Record<ReportTail["exitCode"], string> = {
  0: "the run completed",
  1: "some objects could not be read or processed, or the notification failed",
  3: "integrity violations under --verify require",
  130: "stopped by SIGINT",
  143: "stopped by SIGTERM",
};

function verdictChip(v: string): string {
  const s = VERDICT_STYLE[v as keyof typeof VERDICT_STYLE];
  return s
    ? `<span class="verdict" data-verdict="${escapeHtml(v)}" style="background:${s.colour};color:${s.ink}">${escapeHtml(v)}</span>`
    : `<span class="verdict">${html(v)}</span>`;
}

function severityChip(a: Alert): string {
  const sev = severityOf(a);
  return `<span class="sev" style="background:${SEVERITY_STYLE[sev].colour}"></span>${sev}`;
}

function objectList(title: string, list: Bounded<ObjectProblem>, column: string): string {
  if (list.total === 0) return `<h3>${title}</h3><p class="muted">none</p>`;
  const rows = list.items
    .map((p) => `<tr><td class="key">${html(p.object)}</td><td>${p.kind}</td><td>${html(p.why)}</td></tr>`)
    .join("");
  return (
    `<h3>${title} (${list.total})</h3><div class="scroll"><table><thead><tr><th>object</th><th>kind</th><th>${column}</th></tr></thead>` +
    `<tbody>${rows}</tbody></table></div>` +
    (list.more ? `<p class="note">and ${list.more} more (the json report lists every object)</p>` : "")
  );
}

function alertNotes(a: Alert): string {
  const notes: string[] = [];
  if (a.userType) notes.push(a.userType);
  if (a.traceType) notes.push(a.traceType);
  if (a.mfa) notes.push(`MFA ${a.mfa}`);
  if (a.userAgent) notes.push(a.userAgent);
  if (a.suppressed) notes.push("already sent by an earlier run");
  if (a.pending) notes.push("carried over from an unsent digest");
  if (a.fileError) notes.push(`file failed after it: ${a.fileError}`);
  return notes.map((n) => html(n)).join("<br>");
}

function alertTable(alerts: readonly Alert[]): string {
  const rows = alerts.slice(0, ALERT_ROWS).map((a) => {
    const where = [a.country, a.asn !== undefined ? `AS${a.asn}` : "", a.asOrg].filter(Boolean).join(" · ");
    return (
      `<tr class="alert" data-severity="${severityOf(a)}"><td class="nowrap">${html(a.time.replace("T", " ")) || "—"}</td>` +
      `<td>${html(a.traceName)}</td><td>${html(userOf(a))}</td><td class="key nowrap">${html(addressOf(a))}</td>` +
      `<td>${html(where) || "—"}</td>` +
      `<td>${html(ruleOf(a))}</td><td>${severityChip(a)}</td><td>${verdictChip(a.integrity)}</td>` +
      `<td class="key" title="${html(a.object)}">${html(a.object.slice(a.object.lastIndexOf("/") + 1))}</td>` +
      `<td>${html(describeEvidence(a) ?? "")}</td><td>${alertNotes(a)}</td></tr>`
    );
  });
  return (
    `<div class="scroll"><table id="alert-table"><thead><tr><th>time (UTC)</th><th>event</th><th>user</th><th>address</th>` +
    `<th>country · ASN</th><th>rule</th><th>severity</th><th>integrity</th><th>object</th><th>evidence</th><th>context</th></tr></thead>` +
    `<tbody>${rows.join("")}</tbody></table></div>` +
    (alerts.length > ALERT_ROWS
      ? `<p class="note">${alerts.length - ALERT_ROWS} more alerts are not shown (page size); the json report lists every alert.</p>`
      : "")
  );
}

function findingsSection(tally: HtmlTally): string {
  const f = tally.findings;
  if (f.total === 0) return `<h3>Integrity findings</h3><p class="muted">none</p>`;
  const rows = f.items
    .map(
      (x) =>
        `<tr class="finding" data-verdict="${x.verdict}"><td>${verdictChip(x.verdict)}</td><td>${html(chainLabel(x.chain))}</td>` +
        `<td class="key">${html(x.object) || "—"}</td><td>${html(x.detail)}</td></tr>`,
    )
    .join("");
  return (
    `<h3>Integrity findings (${f.total})</h3><div class="scroll"><table id="findings"><thead><tr><th>verdict</th><th>chain</th>` +
    `<th>object</th><th>detail</th></tr></thead><tbody>${rows}</tbody></table></div>` +
    (f.more ? `<p class="note">and ${f.more} more (the json report lists every one)</p>` : "")
  );
}

/**
 * The whole page, in pieces to write as they are made. Everything that comes from a trace, a bucket or a server
 * goes through `html()` (redacted, control characters escaped, HTML-escaped); the rest is cts-audit's own text.
 */
export function* htmlPage(header: ReportHeader, tail: ReportTail, tally: HtmlTally): Generator<string> {
  const s = tail.summary;
  const violations = s.integrityViolations;
  const status = tail.exitCode !== 0 ? "bad" : violations || s.alerts ? "warn" : "ok";
  const statusWord =
    tail.exitCode !== 0 ? `exit ${tail.exitCode}` : violations || s.alerts ? "findings" : "clean";
  yield (
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>cts-audit ${header.command} report · ${html(header.startedAt)}</title><style>${CSS}</style></head><body>`
  );
  yield (
    `<header><h1>cts-audit ${header.command} report <span class="badge ${status}">${statusWord}</span></h1>` +
    `<p class="headline">${s.alerts} alerts · ${violations} integrity violations · ${s.failed} failed objects · ` +
    `${s.objects} objects (${s.traceFiles} trace files, ${s.digestFiles} digest files)</p></header>`
  );
  for (const reason of tally.notVerified)
    yield `<p class="banner"><b>Integrity not verified:</b> ${html(reason)}</p>`;
  const facts: Array<[string, string]> = [
    ["sources", header.sources.map((src) => html(src)).join("<br>")],
    [
      "window",
      header.window.since || header.window.until
        ? `${html(header.window.since ?? "start")} to ${html(header.window.until ?? "now")}`
        : "whole source",
    ],
    ["verification", html(header.verify)],
    ["run", `${html(header.startedAt)} to ${html(tail.finishedAt)}`],
    ["exit code", `<b id="exit-code">${tail.exitCode}</b>: ${EXIT_MEANING[tail.exitCode] ?? ""}`],
  ];
  for (const n of tail.notifications)
    facts.push([
      `notification (${html(n.sink)})`,
      n.error
        ? `failed: ${html(n.error)}${n.savedTo ? `; digest saved to ${html(n.savedTo)}` : ""}`
        : `${n.parts} part(s)${n.messageIds.length ? ` · ${n.messageIds.map((m) => html(m)).join(", ")}` : ""}`,
    ]);
  for (const e of tail.errors) facts.push(["error", html(e)]);
  const counts: Array<[string, number]> = [
    ["objects", s.objects],
    ["trace files", s.traceFiles],
    ["digest files", s.digestFiles],
    ["traces read", s.traces],
    ["audited", s.matched],
    ["alerts", s.alerts],
    ["already sent", s.suppressed],
    ["integrity violations", violations],
    ["failed", s.failed],
    ["skipped", s.skipped],
    ["reused from state", s.reused],
  ];
  yield (
    `<section id="summary"><h2>Run</h2><dl class="facts">${facts.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join("")}</dl>` +
    `<ul class="counts">${counts.map(([k, v]) => `<li><b>${v}</b>${k}</li>`).join("")}</ul></section>`
  );
  if (header.verify === "off")
    yield `<section id="calendar"><h2>Integrity calendar</h2><p>Verification was off (--verify off): nothing to draw.</p></section>`;
  else {
    yield* integrityCalendar(tally);
    yield `<section id="integrity-findings">${findingsSection(tally)}</section>`;
  }
  if (header.command === "scan") {
    const alerts = tail.alerts;
    yield `<section id="alerts"><h2>Alerts (${alerts.length})</h2>`;
    if (alerts.length === 0) yield `<p>No alerts.</p>`;
    else {
      yield severityLegend();
      yield `<h3>Timeline per address</h3><div class="scroll">${alertTimeline(alerts, addressOf, { one: "address", many: "addresses" })}</div>`;
      yield `<h3>Timeline per user</h3><div class="scroll">${alertTimeline(alerts, userOf, { one: "user", many: "users" })}</div>`;
      yield (
        `<h3>Top</h3><div class="tops">` +
        topBars("addresses", topCounts(alerts, addressOf)) +
        topBars("users", topCounts(alerts, userOf)) +
        topBars("countries", topCounts(alerts, countryOf)) +
        topBars("rules", topCounts(alerts, ruleOf)) +
        `</div>`
      );
      yield `<h3>Every alert</h3>${alertTable(alerts)}`;
    }
    yield `</section>`;
  }
  yield (
    `<section id="objects"><h2>Failed and skipped objects</h2>` +
    objectList("Failed", tally.failed, "error") +
    objectList("Skipped", tally.skipped, "reason") +
    `</section>`
  );
  yield (
    `<footer>Made by cts-audit at ${html(tail.finishedAt)}. A self-contained page: no script, font or image from ` +
    `anywhere; times are UTC.</footer></body></html>\n`
  );
}
