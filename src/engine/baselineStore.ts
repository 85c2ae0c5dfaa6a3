import type { LocationBaseline } from "../detect/LocationBaseline.js";
import type { BaselineStore } from "../detect/NewLocationRules.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";

/**
 * The per-user location baselines (`new-country`/`new-asn`) through a run's {@link LedgerPolicy}: without a usable ledger, or
 * when a read fails (reported), a user has no baseline, so those rules stay silent rather than guess.
 *
 * What this run wrote is also kept for the run (one baseline a user: bounded by the users, not the objects), and
 * read from there: a write is then queued like a unit's others (`LedgerPolicy.later`) instead of awaited, which stalled
 * every unit on a synced commit (a million-object first run: half a second idle), and the next unit still sees
 * it. A dry run writes nothing, and judges each unit against what its earlier units taught, as a real run does.
 */
export function baselineStore(policy: LedgerPolicy): BaselineStore {
  const written = new Map<string, LocationBaseline>();
  return {
    get: async (keys) => {
      const unknown = keys.filter((k) => !written.has(k));
      const read =
        unknown.length === 0
          ? new Map<string, LocationBaseline>()
          : await policy.attempt(
              "reading location baselines",
              "read",
              new Map<string, LocationBaseline>(),
              async (l) => (l.getBaselines ? l.getBaselines(unknown) : new Map<string, LocationBaseline>()),
            );
      for (const k of keys) {
        const mine = written.get(k);
        if (mine) read.set(k, mine);
      }
      return read;
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
