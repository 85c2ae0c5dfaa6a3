import type { FileIntegrity } from "../detect/types.js";
import { chainOfTraceKey } from "../integrity/DigestChains.js";
import { isFileViolation } from "../integrity/failClosed.js";
import { parseCtsTime, parseObjectKey } from "../cts/objectKey.js";
import type { DigestRecord, FileRecord, GapRecord } from "./types.js";
import { Bounded } from "./Bounded.js";

/**
 * What one hour of a chain looks like in the integrity calendar. `digest-invalid` is any digest of that hour whose
 * status is not `valid` (or `missing`, which is a `gap`).
 */
export type CellVerdict =
  "valid" | "unverified" | "pending" | "unlisted" | "gap" | "missing" | "digest-invalid" | "modified";

/**
 * Verdicts from worst to best. A changed file is the one verdict that proves tampering with a record, so it wins;
 * a bad digest comes next because it makes every file of its hour unprovable; then records known lost (missing
 * files), then hours nothing vouches for (gaps), files no digest lists although one is due (unlisted), and last
 * the verdicts that are not findings: pending (not yet due), unverified (verification off), valid.
 */
export const VERDICTS_WORST_FIRST: readonly CellVerdict[] = [
  "modified",
  "digest-invalid",
  "missing",
  "gap",
  "unlisted",
  "pending",
  "unverified",
  "valid",
];

const RANK = new Map<CellVerdict, number>(VERDICTS_WORST_FIRST.map((v, i) => [v, i]));

/** Rank of a verdict: 0 is the worst. */
export function verdictRank(v: CellVerdict): number {
  return RANK.get(v) ?? VERDICTS_WORST_FIRST.length;
}

/** The worst of some verdicts (the colour of a calendar cell); `undefined` for none. */
export function worstVerdict(verdicts: Iterable<CellVerdict>): CellVerdict | undefined {
  let worst: CellVerdict | undefined;
  for (const v of verdicts) if (worst === undefined || verdictRank(v) < verdictRank(worst)) worst = v;
  return worst;
}

/** The calendar verdict of a file's integrity. */
export function fileVerdict(integrity: FileIntegrity): CellVerdict {
  return integrity;
}

/** The calendar verdict of a digest's status. */
export function digestVerdict(status: DigestRecord["status"]): CellVerdict {
  // A missing digest comes with its gap records; as a cell it is an hour nothing vouches for.
  return status === "valid" ? "valid" : status === "missing" ? "gap" : "digest-invalid";
}

/** One chain-hour: how many records of each verdict, and the names of a few of them (the worst first). */
export interface Cell {
  counts: Map<CellVerdict, number>;
  /** The worst verdict of the hour. */
  worst: CellVerdict;
  names: Array<{ verdict: CellVerdict; name: string }>;
  /** Records of the hour whose names were not kept. */
  unnamed: number;
}

/** How much the HTML report keeps, whatever the number of objects. */
export interface HtmlLimits {
  /** Names kept per chain-hour cell (the worst verdicts win a place). */
  namesPerCell: number;
  /**
   * Characters of names kept for cells whose records are all fine (valid, pending, unverified): past this budget
   * such cells keep counts only. Names of findings are always kept (up to `namesPerCell`).
   */
  fineNameChars: number;
  /** Chain-hour cells drawn; records of further chain-hours are counted, not drawn. */
  cells: number;
  /** Hours one gap record marks in the calendar. */
  gapHours: number;
  /** Failed objects, skipped objects and integrity findings listed each (the rest counted). */
  listed: number;
}

export const DEFAULT_HTML_LIMITS: HtmlLimits = {
  namesPerCell: 3,
  fineNameChars: 2_000_000,
  cells: 50_000,
  gapHours: 24 * 62,
  listed: 500,
};

export const HOUR_MS = 3_600_000;

/** A finding listed under the calendar: the object, its verdict and why. */
export interface Finding {
  verdict: CellVerdict;
  chain: string;
  object: string;
  detail: string;
}

/** A failed or skipped object. */
export interface ObjectProblem {
  object: string;
  kind: FileRecord["kind"];
  why: string;
}

/**
 * What the HTML page needs of a run, kept as records stream past (DESIGN "Architecture": writers keep only what
 * their format needs): per chain and hour the verdict counts and a few names, bounded lists of findings, failed and
 * skipped objects, and counters. Memory and page size grow with chain-hours (the picture itself), not with objects.
 */
export class HtmlTally {
  /** chain -> hour (ms since the epoch / HOUR_MS) -> cell. */
  readonly chains = new Map<string, Map<number, Cell>>();
  readonly verdictTotals = new Map<CellVerdict, number>();
  readonly findings: Bounded<Finding>;
  readonly failed: Bounded<ObjectProblem>;
  readonly skipped: Bounded<ObjectProblem>;
  /** Records that fell on chain-hours past the cell limit. */
  undrawn = 0;
  /** Records that name no hour (no time in the key) or no chain. */
  unplaced = 0;
  /** Gap records of no chain: the run verified nothing. */
  readonly notVerified: string[] = [];
  cellCount = 0;
  private fineChars = 0;

  constructor(readonly limits: HtmlLimits = DEFAULT_HTML_LIMITS) {
    this.findings = new Bounded(limits.listed);
    this.failed = new Bounded(limits.listed);
    this.skipped = new Bounded(limits.listed);
  }

  file(f: FileRecord): void {
    if (f.status === "failed" && f.integrity !== "missing")
      this.failed.add({ object: f.object, kind: f.kind, why: f.error });
    if (f.status === "skipped") this.skipped.add({ object: f.object, kind: f.kind, why: f.reason ?? "" });
    if (f.kind !== "trace") return;
    const verdict = fileVerdict(f.integrity);
    const key = parseObjectKey(f.object);
    const placed = key.kind === "trace" && key.uploadTime !== undefined;
    const chain = placed ? chainOfTraceKey(key) : "";
    if (isFileViolation(f.integrity)) {
      this.findings.add({
        verdict,
        chain,
        object: f.object,
        detail: [f.reason || f.error, f.digest ? `listed by ${f.digest}` : ""].filter(Boolean).join("; "),
      });
    }
    if (!placed || !key.uploadTime) {
      this.unplaced++;
      return;
    }
    this.add(chain, Math.floor(key.uploadTime.getTime() / HOUR_MS), verdict, f.object);
  }

  digest(d: DigestRecord): void {
    const verdict = digestVerdict(d.status);
    if (verdict !== "valid")
      this.findings.add({
        verdict: verdict === "gap" ? "missing" : verdict,
        chain: d.chain,
        object: d.object,
        detail: `digest ${d.status}${d.reason ? `: ${d.reason}` : ""}`,
      });
    // A digest covers the hour before its own time; `start` says which when the digest was readable.
    const start = d.start ? Date.parse(d.start) : undefined;
    const own = parseObjectKey(d.object).uploadTime?.getTime();
    const at =
      start !== undefined && !Number.isNaN(start) ? start : own !== undefined ? own - HOUR_MS : undefined;
    const chain = d.chain || parseObjectKey(d.object).chain;
    if (at === undefined || !chain) {
      this.unplaced++;
      return;
    }
    this.add(chain, Math.floor(at / HOUR_MS), verdict, d.object);
  }

  gap(g: GapRecord): void {
    if (g.chain === "") {
      this.notVerified.push(g.reason ?? "nothing verified");
      return;
    }
    this.findings.add({
      verdict: "gap",
      chain: g.chain,
      object: "",
      detail: `${g.from || "?"} to ${g.to}${g.reason ? `: ${g.reason}` : ""}`,
    });
    const to = parseIso(g.to);
    if (to === undefined) {
      this.unplaced++;
      return;
    }
    const from = parseIso(g.from) ?? to - HOUR_MS;
    const first = Math.floor(from / HOUR_MS);
    const end = Math.max(first + 1, Math.ceil(to / HOUR_MS));
    const label = `gap ${g.from || "?"} to ${g.to}`;
    for (let h = first; h < Math.min(end, first + this.limits.gapHours); h++)
      this.add(g.chain, h, "gap", label);
  }

  private add(chain: string, hour: number, verdict: CellVerdict, name: string): void {
    this.verdictTotals.set(verdict, (this.verdictTotals.get(verdict) ?? 0) + 1);
    let hours = this.chains.get(chain);
    let cell = hours?.get(hour);
    if (!cell) {
      if (this.cellCount >= this.limits.cells) {
        this.undrawn++;
        return;
      }
      if (!hours) {
        hours = new Map();
        this.chains.set(chain, hours);
      }
      cell = { counts: new Map(), worst: verdict, names: [], unnamed: 0 };
      hours.set(hour, cell);
      this.cellCount++;
    }
    cell.counts.set(verdict, (cell.counts.get(verdict) ?? 0) + 1);
    if (verdictRank(verdict) < verdictRank(cell.worst)) cell.worst = verdict;
    this.name(cell, verdict, name);
  }

  private name(cell: Cell, verdict: CellVerdict, name: string): void {
    const fine = verdictRank(verdict) >= verdictRank("pending");
    const short = name.slice(name.lastIndexOf("/") + 1);
    if (fine && this.fineChars + short.length > this.limits.fineNameChars) {
      cell.unnamed++;
      return;
    }
    if (cell.names.length < this.limits.namesPerCell) {
      cell.names.push({ verdict, name: short });
      if (fine) this.fineChars += short.length;
      return;
    }
    // Full: a worse record takes the place of the mildest named one, so that a modified file is always named.
    let mildest = 0;
    for (const [i, n] of cell.names.entries())
      if (verdictRank(n.verdict) > verdictRank(cell.names[mildest]!.verdict)) mildest = i;
    const out = cell.names[mildest]!;
    if (verdictRank(verdict) < verdictRank(out.verdict)) {
      cell.names[mildest] = { verdict, name: short };
      if (fine) this.fineChars += short.length;
    }
    cell.unnamed++;
  }
}

function parseIso(text: string): number | undefined {
  if (!text) return undefined;
  const ms = Date.parse(text);
  if (!Number.isNaN(ms)) return ms;
  return parseCtsTime(text)?.getTime();
}
