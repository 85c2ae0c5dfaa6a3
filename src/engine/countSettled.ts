import { mergeChainSummaries, type ChainSummaries, type ChainSummary } from "../integrity/failClosed.js";
import { parseObjectKey } from "../cts/objectKey.js";
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
  const overdue = (chain: string, at: number | undefined) => {
    if (at !== undefined) add({ chain, digests: 0, valid: 0, overdueFrom: at, overdueTo: at });
  };
  for (const slot of settled.files) {
    // A replayed file has a key only when it is overdue (UnitReplay): the key is read only then.
    if (slot.overdueChain) overdue(slot.overdueChain, slot.key.uploadTime?.getTime());
  }
  for (const { chain, object } of settled.replayed?.overdue ?? [])
    overdue(chain, parseObjectKey(object).uploadTime?.getTime());
}
