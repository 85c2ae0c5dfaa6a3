import type { DigestRead } from "../integrity/types.js";
import { ChainCarry } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import type { Settled } from "./types.js";
import type { Unit } from "./units.js";
import { digestVerdict, fileVerdict } from "./verdicts.js";

/**
 * The chain carry of a fan-out shard cut mid-series (DESIGN "Organisation-size backfills"): besides what every run
 * does, it settles the context units around the shard's own, the one before it ({@link prime}) and the one after
 * it ({@link settleHeld}), so that the shard's records are exactly what one whole run gives.
 */
export class ShardChainCarry extends ChainCarry {
  /**
   * A fan-out shard that starts mid-series: a context unit before the shard's first (its files not read, only
   * planned; its digests read) builds the carry the shard's first unit needs (links, gaps already written, held and
   * recent keys as present), and nothing of it is written or counted. Its held records are the previous shard's,
   * which judges them with its read-ahead ({@link settleHeld}). Returns the records of other series this finishes.
   */
  prime(unit: Unit, slots: readonly Slot[], reads: readonly DigestRead[]): Settled[] {
    const out: Settled[] = [];
    for (const name of [...this.series.keys()]) if (name !== unit.series) out.push(this.finish(name));
    const chains = this.chainsFor(unit, reads);
    this.quiet = true;
    try {
      this.settle(unit, slots, reads, chains);
    } finally {
      this.quiet = false;
    }
    this.series.get(unit.series)!.foreign = true;
    return out;
  }

  /**
   * A fan-out shard that ends mid-series: the next unit's digests (read ahead, not reported) judge the held
   * records of the unit's series exactly as the next unit's `settle` would, and the series ends here. The next
   * unit's own digests, gaps and missing files are the next shard's.
   */
  settleHeld(unit: Unit, reads: readonly DigestRead[]): Settled[] {
    const out: Settled[] = [];
    for (const name of [...this.series.keys()]) if (name !== unit.series) out.push(this.finish(name));
    const carry = this.series.get(unit.series);
    if (!carry) return out;
    const chains = this.chainsFor(unit, reads);
    this.series.delete(unit.series);
    if (carry.foreign) return out;
    // As settle() judges the previous unit's held records, in the same order.
    const statusOf = new Map(chains.digests.map((d) => [d.object, d]));
    const settled: Settled = { digests: [], gaps: [], files: [], missing: [] };
    for (const held of carry.heldDigests) {
      const now = statusOf.get(held.record.object) ?? held.record;
      settled.digests.push(now);
      digestVerdict(held.slot, now);
      settled.files.push(held.slot);
    }
    for (const slot of carry.heldFiles) {
      fileVerdict(slot, chains, this.partial);
      settled.files.push(slot);
    }
    out.push(this.summarise(settled));
    return out;
  }
}
