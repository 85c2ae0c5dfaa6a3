import type { FileIntegrity } from "../detect/types.js";
import type { GapRecord, Report } from "../report/types.js";
import { DELIVERY_DELAY_MS, digestDueAt, hourlyPieces } from "./timing.js";

/**
 * What the whole-run judgements need of one digest chain, small enough to carry from one unit (region-day folder)
 * to the next: the engine merges each unit's summaries (`mergeChainSummaries`) and judges once at the end.
 */
export interface ChainSummary {
  chain: string;
  /** Digests of the chain read in scope, whatever their status (not counting `missing` ones). */
  digests: number;
  /** Of those, the `valid` ones. */
  valid: number;
  /** The newest readable digest (by `digest_end_time`) and that end time, epoch ms. */
  newestKey?: string;
  newestEnd?: number;
  /** Upload times (epoch ms) of the first and last file of the chain whose digest was overdue. */
  overdueFrom?: number;
  overdueTo?: number;
}

/** Chain -> summary, for a run. */
export type ChainSummaries = Map<string, ChainSummary>;

/** Adds `more` (one unit's summaries) into `into`, keeping each chain's newest digest; returns `into`. */
export function mergeChainSummaries(into: ChainSummaries, more: Iterable<ChainSummary>): ChainSummaries {
  for (const s of more) {
    const have = into.get(s.chain);
    if (!have) {
      into.set(s.chain, { ...s });
      continue;
    }
    have.digests += s.digests;
    have.valid += s.valid;
    if (s.newestEnd !== undefined && (have.newestEnd === undefined || s.newestEnd > have.newestEnd)) {
      have.newestEnd = s.newestEnd;
      have.newestKey = s.newestKey;
    }
    if (s.overdueFrom !== undefined)
      have.overdueFrom = Math.min(have.overdueFrom ?? s.overdueFrom, s.overdueFrom);
    if (s.overdueTo !== undefined) have.overdueTo = Math.max(have.overdueTo ?? s.overdueTo, s.overdueTo);
  }
  return into;
}

/**
 * The chains a chain is compared with: the other service folders of its region and tracker
 * (`<...>CloudTraces/<region>/<tracker>/Digest`). One tracker's chains are written by one hourly job, so their newest
 * digests end together; other trackers and regions may keep other hours, so they are not compared.
 */
export function siblingGroup(chain: string): string {
  const at = chain.lastIndexOf("/Digest");
  return at >= 0 ? chain.slice(0, at + "/Digest".length) : chain;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Chains cut short, one gap per digest that should have followed the chain's newest: a chain is truncated when a
 * file of it was left without a digest past the time its digest was due (the engine's verdicts record this), or
 * when its newest digest ends more than the delivery delay before a sibling chain's newest. A partial listing
 * (the function's one object) proves neither.
 */
export function truncatedChains(summaries: ChainSummaries, options: { partial?: boolean } = {}): GapRecord[] {
  if (options.partial) return [];
  const newestOfGroup = new Map<string, { end: number; chain: string }[]>();
  for (const s of summaries.values()) {
    if (s.newestEnd === undefined) continue;
    const group = siblingGroup(s.chain);
    const list = newestOfGroup.get(group) ?? [];
    list.push({ end: s.newestEnd, chain: s.chain });
    newestOfGroup.set(group, list);
  }
  const gaps: GapRecord[] = [];
  for (const s of [...summaries.values()].sort((a, b) => (a.chain < b.chain ? -1 : 1))) {
    const siblings = (newestOfGroup.get(siblingGroup(s.chain)) ?? []).filter((o) => o.chain !== s.chain);
    const ahead = siblings.reduce<{ end: number; chain: string } | undefined>(
      (best, o) => (!best || o.end > best.end ? o : best),
      undefined,
    );
    const reasons: string[] = [];
    let from = s.newestEnd;
    let to: number | undefined;
    if (s.newestEnd !== undefined && ahead && ahead.end - s.newestEnd > DELIVERY_DELAY_MS) {
      to = ahead.end;
      reasons.push(`sibling chain ${ahead.chain} goes on to ${iso(ahead.end)}`);
    }
    if (s.overdueTo !== undefined) {
      // The hour that should have listed the last overdue file ends at its due time less the delay.
      const end = digestDueAt(s.overdueTo, s.newestEnd) - DELIVERY_DELAY_MS;
      to = Math.max(to ?? end, end);
      from ??= s.overdueFrom;
      reasons.push(
        `files uploaded from ${iso(s.overdueFrom ?? s.overdueTo)} have no digest, though it was due`,
      );
    }
    if (from === undefined || to === undefined) continue;
    const head = s.newestKey
      ? `chain truncated after its newest digest ${s.newestKey}`
      : "chain has no digest at all";
    for (const piece of hourlyPieces(from, to))
      gaps.push({
        chain: s.chain,
        from: iso(piece.from),
        to: iso(piece.to),
        reason: `${head}: ${reasons.join("; ")}`,
      });
  }
  return gaps;
}

/**
 * Fail closed: a run that verified nothing (no digest in scope, or none of them valid) is a violation. Returns the
 * finding as a gap over the requested window (chain `""`: no one chain; `from`/`to` empty where the window is open),
 * or undefined when something was verified.
 * A partial listing (the function's one object) is not expected to hold a digest.
 */
export function nothingVerified(
  summaries: ChainSummaries,
  options: { partial?: boolean; since?: Date; until?: Date },
): GapRecord | undefined {
  if (options.partial) return undefined;
  let digests = 0;
  let valid = 0;
  for (const s of summaries.values()) {
    digests += s.digests;
    valid += s.valid;
  }
  if (valid > 0) return undefined;
  const where = options.since || options.until ? "in the requested window" : "in the source";
  const reason =
    digests === 0
      ? `nothing verified: no digest file ${where} (is "Verify Trace File" enabled on the tracker? ` +
        "were the Digest folders deleted?)"
      : `nothing verified: none of the ${digests} digest files ${where} is valid`;
  return {
    chain: "",
    from: options.since?.toISOString() ?? "",
    // Open ends stay empty (the run's time would make the report differ from run to run).
    to: options.until?.toISOString() ?? "",
    reason,
  };
}

/** File verdicts that are violations (DESIGN exit code 3). */
export function isFileViolation(integrity: FileIntegrity): boolean {
  return integrity === "modified" || integrity === "missing" || integrity === "unlisted";
}

/** The report's integrity violations: digests not `valid`, files modified/missing/unlisted, and every gap. */
export function integrityViolations(report: Pick<Report, "digests" | "files" | "gaps">): number {
  return (
    report.digests.filter((d) => d.status !== "valid").length +
    report.files.filter((f) => isFileViolation(f.integrity)).length +
    report.gaps.length
  );
}
