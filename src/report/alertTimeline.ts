/*
 * The alert charts are hand-written SVG, not a chart library. The page needs two shapes, dots on lanes against a
 * time axis and horizontal bars, and a few dozen lines draw both as static SVG. Observable Plot (the candidate)
 * renders only through a DOM: in Node that means jsdom as well, several megabytes of dependencies for the report
 * writer of a command-line tool and a FunctionGraph package, to produce the same rects and circles.
 */
import type { Alert, Severity } from "../detect/types.js";
import { escapeHtml, html } from "./escapeHtml.js";

/** Severity colours and order; alerts of an engine without rules have no severity (`unrated`). */
export const SEVERITY_STYLE: Record<Severity | "unrated", { colour: string; rank: number }> = {
  critical: { colour: "#7b0016", rank: 0 },
  high: { colour: "#d7301f", rank: 1 },
  medium: { colour: "#f08c00", rank: 2 },
  low: { colour: "#4a7fb0", rank: 3 },
  unrated: { colour: "#8a8a8a", rank: 4 },
};

/** An alert's rule, or the reason an engine without rules gave. */
export const ruleOf = (a: Alert): string => a.rule ?? a.reason;
export const severityOf = (a: Alert): Severity | "unrated" => a.severity ?? "unrated";
export const addressOf = (a: Alert): string => a.sourceIp || "(no address)";
export const userOf = (a: Alert): string =>
  (a.domain && a.domain !== a.user ? `${a.user} (${a.domain})` : a.user) || "(no user)";
export const countryOf = (a: Alert): string => a.country || "unknown";

/** Counts by key, largest first, then by key. */
export function topCounts(alerts: readonly Alert[], keyOf: (a: Alert) => string): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(keyOf(a), (counts.get(keyOf(a)) ?? 0) + 1);
  return [...counts.entries()].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

const LABEL_W = 200;
const PLOT_W = 560;
const NOTE_W = 330;
const LANE_H = 20;
const AXIS_H = 26;

const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

function tickLabel(ms: number, spanMs: number): string {
  const iso = new Date(ms).toISOString();
  return spanMs > 3 * 86_400_000 ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/**
 * Alerts as dots on one lane per key (address or user) against time, coloured by severity; each lane ends with its
 * count, worst severity and rules in words, so that rule and severity read without hovering, and each dot's title
 * gives the whole alert. The `lanes` busiest keys get a lane; the rest are counted.
 */
export function alertTimeline(
  alerts: readonly Alert[],
  keyOf: (a: Alert) => string,
  what: { one: string; many: string },
  lanes = 25,
): string {
  const timed = alerts.filter((a) => !Number.isNaN(Date.parse(a.time)));
  const untimed = alerts.length - timed.length;
  if (timed.length === 0)
    return `<p class="muted">No alert with a time${untimed ? ` (${untimed} without)` : ""}.</p>`;
  const times = timed.map((a) => Date.parse(a.time));
  // A loop, not Math.min(...times): spreading a hundred thousand arguments overflows the stack.
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of times) {
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  if (hi - lo < 60_000) {
    lo -= 30 * 60_000;
    hi += 30 * 60_000;
  }
  const x = (ms: number) => LABEL_W + ((ms - lo) / (hi - lo)) * PLOT_W;
  const keys = topCounts(timed, keyOf);
  const shown = keys.slice(0, lanes);
  const width = LABEL_W + PLOT_W + NOTE_W;
  const height = AXIS_H + shown.length * LANE_H + 4;
  const parts: string[] = [
    `<svg class="timeline" role="img" aria-label="alerts per ${escapeHtml(what.one)} over time" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
  ];
  for (let i = 0; i <= 4; i++) {
    const ms = lo + ((hi - lo) * i) / 4;
    const tx = x(ms);
    parts.push(
      `<line class="grid" x1="${tx}" x2="${tx}" y1="${AXIS_H - 6}" y2="${height}"/>`,
      `<text class="tick" x="${tx}" y="12" text-anchor="${i === 0 ? "start" : i === 4 ? "end" : "middle"}">${tickLabel(ms, hi - lo)}</text>`,
    );
  }
  for (const [row, [key, count]] of shown.entries()) {
    const y = AXIS_H + row * LANE_H + LANE_H / 2;
    const mine = timed.filter((a) => keyOf(a) === key);
    const worst = mine.map(severityOf).sort((p, q) => SEVERITY_STYLE[p].rank - SEVERITY_STYLE[q].rank)[0]!;
    const rules = topCounts(mine, ruleOf)
      .map(([r, n]) => (n > 1 ? `${r} ×${n}` : r))
      .join(", ");
    parts.push(
      `<g class="lane" data-key="${html(key)}"><title>${html(key)}</title>`,
      `<line class="lane-line" x1="${LABEL_W}" x2="${LABEL_W + PLOT_W}" y1="${y}" y2="${y}"/>`,
      `<text class="lane-label" x="${LABEL_W - 8}" y="${y + 4}" text-anchor="end">${html(truncate(key, 30))}</text>`,
      `<text class="lane-note" x="${LABEL_W + PLOT_W + 10}" y="${y + 4}">${count} · ${worst} · ${html(truncate(rules, 48))}</text></g>`,
    );
    for (const a of mine) {
      const sev = severityOf(a);
      parts.push(
        `<circle class="alert-dot" data-severity="${sev}" cx="${x(Date.parse(a.time)).toFixed(1)}" cy="${y}" r="5" fill="${SEVERITY_STYLE[sev].colour}">` +
          `<title>${html(a.time)} · ${html(a.traceName)} · ${html(userOf(a))} from ${html(addressOf(a))}` +
          `${a.country ? ` (${html(a.country)})` : ""} · ${html(ruleOf(a))} · ${sev} · integrity ${html(a.integrity)}</title></circle>`,
      );
    }
  }
  parts.push(`</svg>`);
  const notes: string[] = [];
  if (keys.length > shown.length)
    notes.push(`${keys.length - shown.length} more ${what.many} with fewer alerts are in the table`);
  if (untimed) notes.push(`${untimed} alerts without a time are in the table only`);
  return parts.join("") + (notes.length ? `<p class="note">${escapeHtml(notes.join("; "))}.</p>` : "");
}

/** The severity legend of the timelines. */
export function severityLegend(): string {
  return `<ul class="legend">${Object.entries(SEVERITY_STYLE)
    .map(
      ([name, s]) =>
        `<li><svg width="12" height="12" aria-hidden="true"><circle cx="6" cy="6" r="5" fill="${s.colour}"/></svg> ${name}</li>`,
    )
    .join("")}</ul>`;
}

/** A top-N list as horizontal bars: label, bar, count. */
export function topBars(title: string, entries: Array<[string, number]>, limit = 10): string {
  const rows = entries.slice(0, limit);
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const barMax = 180;
  const labelW = 170;
  const width = labelW + barMax + 50;
  const height = rows.length * 18 + 4;
  const bars = rows
    .map(([label, n], i) => {
      const y = i * 18 + 2;
      const w = Math.max(2, (n / max) * barMax);
      return (
        `<g class="bar"><title>${html(label)}: ${n}</title>` +
        `<text x="${labelW - 6}" y="${y + 12}" text-anchor="end">${html(truncate(label, 24))}</text>` +
        `<rect x="${labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="13" rx="2"/>` +
        `<text x="${labelW + w + 4}" y="${y + 12}">${n}</text></g>`
      );
    })
    .join("");
  const more = entries.length > limit ? `<p class="note">and ${entries.length - limit} more</p>` : "";
  return (
    `<figure class="top"><figcaption>${escapeHtml(title)}</figcaption>` +
    (rows.length
      ? `<svg role="img" aria-label="${escapeHtml(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${bars}</svg>`
      : `<p class="muted">none</p>`) +
    `${more}</figure>`
  );
}
