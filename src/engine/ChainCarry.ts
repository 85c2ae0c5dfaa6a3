import type { KeyObject } from "node:crypto";
import { DigestChains, type ScopeTest } from "../integrity/DigestChains.js";
import type { ChainSummaries } from "../integrity/failClosed.js";
import { countSettled } from "./countSettled.js";
import type { DigestRead } from "../integrity/types.js";
import type { GapRecord } from "../report/types.js";
import type { Slot } from "./scanObject.js";
import type { SeriesCarry, Settled } from "./types.js";
import { digestVerdict, fileVerdict } from "./verdicts.js";
import type { Unit } from "./units.js";

export type { SeriesCarry, Settled } from "./types.js";

// A digest lists the files of the hour before it: keys of the previous unit's last hours are kept for it.
const RECENT_MS = 3 * 60 * 60 * 1000;

const gapKey = (g: GapRecord) => `gap|${g.chain}|${g.from}|${g.to}`;

/**
 * Digest chains verified unit by unit (DESIGN "Architecture"). Each unit's chains are built from its digests
 * plus the previous unit's of the same series (region), so that a link, a gap or a file that crosses midnight is
 * judged as it would be in one whole-run pass. Verdicts that a later digest can change wait one unit.
 */
export class ChainCarry {
  protected readonly series = new Map<string, SeriesCarry>();
  /** While priming from context units: what settles is not counted (the shard that owns it counts it). */
  protected quiet = false;

  constructor(
    private readonly publicKey: KeyObject,
    private readonly inScope: ScopeTest,
    /** The function's partial listing: a file with no digest in view is `pending`, its digest still to come. */
    protected readonly partial: boolean,
    /** Now (a file is pending only while its digest is not yet due) and the bucket digests must name. */
    private readonly chainOptions: { now: Date; bucket: string | undefined },
    /**
     * What each chain verified, for the run's fail-closed judgements (truncation, nothing verified): counted from
     * the records this carry settles, so that a digest read again as context is counted once.
     */
    readonly summaries: ChainSummaries = new Map(),
  ) {}

  /** The chains for one unit: its digests and the previous unit's of the same series. */
  chainsFor(unit: Unit, reads: readonly DigestRead[]): DigestChains {
    return this.chainsWith(this.series.get(unit.series)?.reads ?? [], reads);
  }

  /**
   * The chains `chainsFor(unit, reads)` gives once `previous`, the unit listed just before `unit`, has settled
   * through `settle` (which leaves its own digests as its series' context and ends every other series): built
   * while `previous` is still being read, so that `unit`'s files can start meanwhile. `settledAs(unit, context)`
   * checks, at `unit`'s turn, that the carry is what was assumed.
   */
  chainsAfter(
    previous: { unit: Unit; reads: readonly DigestRead[] },
    unit: Unit,
    reads: readonly DigestRead[],
  ): { chains: DigestChains; context: readonly DigestRead[] } {
    const context = previous.unit.series === unit.series ? previous.reads : [];
    return { chains: this.chainsWith(context, reads), context };
  }

  /** Whether `unit`'s series now carries exactly `context` (by identity): what `chainsAfter` assumed. */
  settledAs(unit: Unit, context: readonly DigestRead[]): boolean {
    const carried = this.series.get(unit.series)?.reads ?? [];
    return carried.length === context.length && carried.every((r, i) => r === context[i]);
  }

  private chainsWith(context: readonly DigestRead[], reads: readonly DigestRead[]): DigestChains {
    const { now, bucket } = this.chainOptions;
    // The oldest context digest links to one the previous unit had as context, out of view here: a link older
    // than the context is not "missing" (the unit that read it judged it).
    let contextStart = Infinity;
    for (const r of context) contextStart = Math.min(contextStart, r.key.uploadTime?.getTime() ?? Infinity);
    const inScope: ScopeTest = (key, time) =>
      this.inScope(key, time) &&
      (time === undefined || time.getTime() >= contextStart || contextStart === Infinity);
    return new DigestChains([...context, ...reads], this.publicKey, inScope, {
      now,
      ...(bucket !== undefined ? { bucket } : {}),
    });
  }

  /** Counts settled records into the chain summaries (not while priming: the shard that owns them counts). */
  protected summarise(settled: Settled): Settled {
    if (!this.quiet) countSettled(this.summaries, settled);
    return settled;
  }

  /**
   * Verdicts for a unit's slots (and the previous unit's held ones), with the digest, gap and missing-file
   * records the unit adds. Series other than this unit's are finished first: a sorted listing never returns to
   * them.
   */
  settle(unit: Unit, slots: readonly Slot[], reads: readonly DigestRead[], chains: DigestChains): Settled[] {
    const out: Settled[] = [];
    for (const name of [...this.series.keys()]) if (name !== unit.series) out.push(this.finish(name));
    const carry = this.series.get(unit.series);
    const own = new Set(reads.map((r) => r.key.key));
    const statusOf = new Map(chains.digests.map((d) => [d.object, d]));
    const settled: Settled = { digests: [], gaps: [], files: [], missing: [] };
    const written = new Set<string>();
    const heldDigests: SeriesCarry["heldDigests"] = [];

    // Digests: this unit's (held when unanchored), the previous unit's held ones, missing links not yet written.
    const mine = carry?.foreign ? undefined : carry;
    for (const held of mine?.heldDigests ?? []) {
      const now = statusOf.get(held.record.object) ?? held.record;
      settled.digests.push(now);
      digestVerdict(held.slot, now);
      settled.files.push(held.slot);
    }
    for (const d of chains.digests) {
      if (d.status === "missing") {
        const k = `missing|${d.object}`;
        written.add(k);
        if (!carry?.written.has(k)) settled.digests.push(d);
      } else if (own.has(d.object) && d.status !== "unanchored") settled.digests.push(d);
    }
    for (const g of chains.gaps) {
      written.add(gapKey(g));
      if (!carry?.written.has(gapKey(g))) settled.gaps.push(g);
    }

    // Files held by the previous unit: this unit's digests may list them.
    for (const slot of mine?.heldFiles ?? []) {
      fileVerdict(slot, chains, this.partial);
      settled.files.push(slot);
    }
    const heldFiles: Slot[] = [];
    let latest = 0;
    for (const slot of slots) {
      if (slot.record.kind === "digest") {
        const d = statusOf.get(slot.object.key);
        if (d?.status === "unanchored" && own.has(d.object)) {
          heldDigests.push({ slot, record: d });
          continue;
        }
        digestVerdict(slot, d);
      } else if (fileVerdict(slot, chains, this.partial)) {
        heldFiles.push(slot);
        continue;
      }
      settled.files.push(slot);
      latest = Math.max(latest, slot.key.uploadTime?.getTime() ?? 0);
    }

    // Files this unit's digests list that no unit holds.
    const present = new Set(slots.map((s) => s.object.key));
    for (const s of carry?.heldFiles ?? []) present.add(s.object.key);
    for (const k of carry?.recentKeys ?? []) present.add(k);
    for (const m of chains.missing(present, own)) {
      settled.missing.push({
        object: m.object,
        kind: "trace",
        status: "failed",
        traces: 0,
        integrity: "missing",
        error: `listed in digest ${m.digest} but not found`,
        digest: m.digest,
      });
    }

    const recentKeys = new Set<string>();
    for (const slot of slots) {
      const at = slot.key.uploadTime?.getTime();
      if (slot.record.kind === "trace" && at !== undefined && at >= latest - RECENT_MS)
        recentKeys.add(slot.object.key);
    }
    this.series.set(unit.series, { reads: [...reads], heldFiles, heldDigests, recentKeys, written });
    out.push(this.summarise(settled));
    return out;
  }

  /** What the series hands to its next unit now (UnitReplay stores it with the unit that left it). */
  carried(series: string): SeriesCarry | undefined {
    return this.series.get(series);
  }

  /**
   * A unit replayed from a stored outcome (UnitReplay): series other than its own are finished as `settle` does,
   * the series' carry becomes the stored one (the previous unit's held records are in `settled`, judged), and the
   * records count into the summaries as settled ones do.
   */
  replay(unit: Unit, settled: Settled, carry: SeriesCarry | undefined): Settled[] {
    const out: Settled[] = [];
    for (const name of [...this.series.keys()]) if (name !== unit.series) out.push(this.finish(name));
    if (carry) this.series.set(unit.series, carry);
    else this.series.delete(unit.series);
    out.push(this.summarise(settled));
    return out;
  }

  /** Settles every series still carried: held records get the verdicts they have. */
  finishAll(): Settled[] {
    return [...this.series.keys()].map((name) => this.finish(name));
  }

  protected finish(name: string): Settled {
    const carry = this.series.get(name);
    this.series.delete(name);
    const settled: Settled = { digests: [], gaps: [], files: [], missing: [] };
    if (carry?.foreign) return settled;
    for (const held of carry?.heldDigests ?? []) {
      settled.digests.push(held.record);
      digestVerdict(held.slot, held.record);
      settled.files.push(held.slot);
    }
    settled.files.push(...(carry?.heldFiles ?? []));
    return this.summarise(settled);
  }
}
