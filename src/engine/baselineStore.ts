import { mergeBaselines, type LocationBaseline } from "../detect/LocationBaseline.js";
import type { BaselineStore } from "../detect/NewLocationRules.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";

/**
 * The per-user location baselines (`new-country`/`new-asn`) through a run's {@link LedgerPolicy}: without a usable
 * ledger, or when a read fails (reported), a user has no baseline, so those rules stay silent rather than guess.
 *
 * What this run wrote is also kept for the run (one baseline a user: bounded by the users, not the objects), and
 * read from there, merged with the ledger's when other runs may write to it. A write is then queued like a unit's
 * others (`LedgerPolicy.later`) instead of awaited, which stalled every unit on a synced commit (a million-object
 * first run: half a second idle), and the next unit still sees it. A dry run writes nothing, and judges each unit
 * against what its earlier units taught, as a real run does.
 */
export function baselineStore(policy: LedgerPolicy): BaselineStore {
  const written = new Map<string, LocationBaseline>();
  const read = (keys: readonly string[]) =>
    keys.length === 0
      ? Promise.resolve(new Map<string, LocationBaseline>())
      : policy.attempt(
          "reading location baselines",
          "read",
          new Map<string, LocationBaseline>(),
          async (l) => (l.getBaselines ? l.getBaselines(keys) : new Map<string, LocationBaseline>()),
        );
  return {
    get: async (keys) => {
      // A ledger only this run writes holds what it wrote: those users are not read again. Another (the OBS ledger,
      // a dry run's) may hold other runs' sightings too: read, and merged with this run's.
      const exclusive = policy.ledger?.exclusive === true;
      const found = await read(exclusive ? keys.filter((k) => !written.has(k)) : keys);
      for (const k of keys) {
        const mine = written.get(k);
        if (!mine) continue;
        const theirs = exclusive ? undefined : found.get(k);
        found.set(k, theirs ? mergeBaselines(theirs, mine) : mine);
      }
      return found;
    },
    put: async (baselines) => {
      if (!policy.usable) return;
      for (const b of baselines) written.set(b.userKey, b.baseline);
      await policy.later(
        "recording location baselines",
        async (l) => {
          await l.putBaselines?.(baselines);
        },
        "baselines",
      );
    },
  };
}
