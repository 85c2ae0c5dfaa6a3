import { escapeHtml, html } from "./escapeHtml.js";
import { HOUR_MS, VERDICTS_WORST_FIRST, type Cell, type CellVerdict, type HtmlTally } from "./HtmlTally.js";

/** How each verdict is drawn: a colour, and a letter so that the calendar still reads in grey print. */
export const VERDICT_STYLE: Record<
  CellVerdict,
  { colour: string; ink: string; letter: string; meaning: string }
> = {
  modified: {
    colour: "#b00020",
    ink: "#fff",
    letter: "M",
    meaning: "a trace file whose hash differs from its digest",
  },
  "digest-invalid": {
    colour: "#e0607e",
    ink: "#000",
    letter: "D",
    meaning: "a digest file that is not valid (signature, hash, format, moved, unanchored)",
  },
  missing: {
    colour: "#6b4226",
    ink: "#fff",
    letter: "X",
    meaning: "a file a digest lists that is not in the bucket",
  },
  gap: {
    colour: "#7e57c2",
    ink: "#fff",
    letter: "G",
    meaning: "an hour no digest covers (a digest missing)",
  },
  unlisted: {
    colour: "#f2b233",
    ink: "#000",
    letter: "U",
    meaning: "a trace file no digest lists although its digest is due",
  },
  pending: {
    colour: "#9cc7ea",
    ink: "#000",
    letter: "P",
    meaning: "newer than every digest; its digest is not yet due",
  },
  unverified: {
    colour: "#cfcfcf",
    ink: "#000",
    letter: "?",
    meaning: "not verified (verification off or no trusted digest)",
  },
  valid: { colour: "#3a9d5d", ink: "#fff", letter: "", meaning: "listed by a valid digest and unchanged" },
};

const DAY_HOURS = 24;
const CELL = 24;
const GAP = 2;
const LABEL_W = 92;
const HEAD_H = 18;
/** Beyond this many days between a chain's first and last record, only days with records get a row. */
export const CONTIGUOUS_DAYS = 62;

/** `CloudTraces/ap-southeast-1/system/Digest/IAM` as a person reads it: `ap-southeast-1 / system / IAM`. */
export function chainLabel(chain: string): string {
  const at = chain.indexOf("CloudTraces/");
  const lead = at > 0 ? `${chain.slice(0, at).replace(/\/$/, "")}: ` : "";
  const rest = (at >= 0 ? chain.slice(at + "CloudTraces/".length) : chain)
    .split("/")
    .filter((s) => s !== "" && s !== "Digest");
  return lead + rest.join(" / ");
}

const isoHour = (hour: number) => new Date(hour * HOUR_MS).toISOString().slice(0, 16).replace("T", " ");
const isoDay = (day: number) => new Date(day * DAY_HOURS * HOUR_MS).toISOString().slice(0, 10);

/** The text of a cell's `<title>`: chain, hour, counts per verdict and the names behind it. */
export function cellTitle(chain: string, hour: number, cell: Cell): string {
  const counts = VERDICTS_WORST_FIRST.filter((v) => cell.counts.has(v))
    .map((v) => `${cell.counts.get(v)} ${v}`)
    .join(", ");
  const lines = [
    `${html(chainLabel(chain))} · ${isoHour(hour)}–${isoHour(hour + 1).slice(11)} UTC · ${escapeHtml(cell.worst)}`,
    counts,
    ...cell.names.map((n) => `${n.verdict}: ${html(n.name)}`),
  ];
  if (cell.unnamed) lines.push(`and ${cell.unnamed} more`);
  return lines.join("\n");
}

/** The legend: one swatch per verdict, worst first. */
export function calendarLegend(): string {
  const items = VERDICTS_WORST_FIRST.map((v) => {
    const s = VERDICT_STYLE[v];
    return (
      `<li><svg width="16" height="16" aria-hidden="true"><rect width="16" height="16" rx="2" fill="${s.colour}"/>` +
      `<text x="8" y="12" text-anchor="middle" font-size="11" fill="${s.ink}">${s.letter}</text></svg> ` +
      `<b>${v}</b> <span class="muted">${escapeHtml(s.meaning)}</span></li>`
    );
  });
  items.push(
    `<li><svg width="16" height="16" aria-hidden="true"><rect x="0.5" y="0.5" width="15" height="15" rx="2" ` +
      `class="empty"/></svg> <b>no record</b> <span class="muted">nothing of this chain in that hour</span></li>`,
  );
  return `<ul class="legend">${items.join("")}</ul>`;
}

/** The days that get a row for one chain: every day between first and last, or only days with records. */
function rowsOf(hours: Map<number, Cell>): { days: number[]; contiguous: boolean } {
  const withData = [...new Set([...hours.keys()].map((h) => Math.floor(h / DAY_HOURS)))].sort(
    (a, b) => a - b,
  );
  const first = withData[0];
  const last = withData.at(-1);
  if (first === undefined || last === undefined) return { days: [], contiguous: true };
  if (last - first + 1 > CONTIGUOUS_DAYS) return { days: withData, contiguous: false };
  return { days: Array.from({ length: last - first + 1 }, (_, i) => first + i), contiguous: true };
}

/**
 * One chain's calendar as SVG, folded by day: one row per UTC day, 24 hourly cells. A month is then 30 rows of 24
 * rather than one row of 720 cells, which neither fits a screen nor prints. Yields its text in pieces (a chain of a
 * long window is tens of thousands of cells).
 */
export function* chainCalendar(chain: string, hours: Map<number, Cell>): Generator<string> {
  const { days, contiguous } = rowsOf(hours);
  const width = LABEL_W + DAY_HOURS * (CELL + GAP);
  const height = HEAD_H + days.length * (CELL + GAP);
  yield (
    `<section class="chain" data-chain="${html(chain)}"><h3>${html(chainLabel(chain))}` +
    ` <span class="muted">${html(chain)}</span></h3>` +
    (contiguous
      ? ""
      : `<p class="note">Only the days with records get a row (the chain spans more than ${CONTIGUOUS_DAYS} days).</p>`) +
    `<svg class="calendar" role="img" aria-label="integrity calendar of ${html(chainLabel(chain))}" ` +
    `width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`
  );
  let head = "";
  for (let h = 0; h < DAY_HOURS; h += 1)
    head += `<text class="hour" x="${LABEL_W + h * (CELL + GAP) + CELL / 2}" y="12" text-anchor="middle">${String(h).padStart(2, "0")}</text>`;
  yield head;
  for (const [row, day] of days.entries()) {
    const y = HEAD_H + row * (CELL + GAP);
    let out = `<text class="day" x="0" y="${y + CELL / 2 + 4}">${isoDay(day)}</text>`;
    for (let h = 0; h < DAY_HOURS; h++) {
      const hour = day * DAY_HOURS + h;
      const x = LABEL_W + h * (CELL + GAP);
      const cell = hours.get(hour);
      if (!cell) {
        out +=
          `<g class="cell" data-verdict="none"><title>${html(chainLabel(chain))} · ${isoHour(hour)} UTC · no record</title>` +
          `<rect class="empty" x="${x + 0.5}" y="${y + 0.5}" width="${CELL - 1}" height="${CELL - 1}" rx="3"/></g>`;
        continue;
      }
      const s = VERDICT_STYLE[cell.worst];
      out +=
        `<g class="cell" data-verdict="${cell.worst}" data-hour="${isoHour(hour)}"><title>${cellTitle(chain, hour, cell)}</title>` +
        `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" rx="3" fill="${s.colour}"/>` +
        (s.letter
          ? `<text x="${x + CELL / 2}" y="${y + CELL / 2 + 4}" text-anchor="middle" fill="${s.ink}">${s.letter}</text>`
          : "") +
        `</g>`;
    }
    yield out;
  }
  yield `</svg></section>`;
}

/** Every chain's calendar, chains in name order, with the legend and the folding decision stated. */
export function* integrityCalendar(tally: HtmlTally): Generator<string> {
  yield `<section id="calendar"><h2>Integrity calendar</h2>`;
  yield (
    `<p class="note">Folded by day: one row per chain and UTC day, one cell per hour (00–23 UTC), so that a month ` +
    `reads as 30 rows of 24 cells instead of 720 columns. Each cell takes the colour of the worst verdict of its ` +
    `hour; its tooltip (the cell's title) names the files and digests behind it.</p>`
  );
  yield calendarLegend();
  if (tally.chains.size === 0) yield `<p>No trace or digest file of any chain in this run.</p>`;
  for (const chain of [...tally.chains.keys()].sort()) yield* chainCalendar(chain, tally.chains.get(chain)!);
  if (tally.undrawn)
    yield `<p class="note">${tally.undrawn} records fell on chain-hours past the page's limit of ${tally.limits.cells} cells and are not drawn; the findings below and the json report list them.</p>`;
  if (tally.unplaced)
    yield `<p class="note">${tally.unplaced} records name no chain or hour (no CTS time in the object key) and are not drawn.</p>`;
  yield `</section>`;
}
