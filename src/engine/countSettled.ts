import { mergeChainSummaries, type ChainSummaries, type ChainSummary } from "../integrity/failClosed.js";
import type { Settled } from "./types.js";

/**
 * Counts settled records into what each chain verified (for the run's fail-closed judgements): digests and their
 * newest end, and the upload times of files whose digest is overdue.
 */
export function countSettled(summaries: ChainSummaries, settled: Settled): void {
  const add = (s: ChainSummary) => mergeChainSummaries(summaries, [s]);
  for (const d of settled.digests) {
    if (d.status === "missing") continue;
    const end = d.end ? Date.parse(d.end) : undefined;
    add({
      chain: d.chain,
      digests: 1,
      valid: d.status === "valid" ? 1 : 0,
      ...(end !== undefined ? { newestEnd: end, newestKey: d.object } : {}),
    });
  }
  for (const slot of settled.files) {
    // A replayed file has a key only when it is overdue (UnitReplay): the key is read only then.
    if (!slot.overdueChain) continue;
    const at = slot.key.uploadTime?.getTime();
    if (at !== undefined)
      add({ chain: slot.overdueChain, digests: 0, valid: 0, overdueFrom: at, overdueTo: at });
  }
}
