import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert, FileIntegrity } from "../detect/types.js";
import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import { WindowCarry } from "../engine/WindowCarry.js";
import type { Unit } from "../engine/units.js";
import { isStoredAttempts, type StoredAttempts } from "../engine/StoredAttempts.js";
import type { UnitAttempts } from "./Manifest.js";

/**
 * The windowed rules of a fan-out worker: instead of alerting, keeps each own unit's login attempts for the
 * reducer, which runs the rules over every shard's attempts in listing order (a window can straddle a cut between
 * shards; see Reducer). A subclass, so that the engine takes it where it takes the windows, unchanged.
 */
export class AttemptRecorder extends WindowCarry {
  readonly units: UnitAttempts[] = [];

  constructor() {
    super(DEFAULT_RULES.rules, undefined);
  }

  // Every unit, with attempts or none: the reducer replays the engine's calls exactly (a unit of another series
  // finishes the windows of the one before).
  override async settle(unit: Unit, given: readonly LoginAttempt[] | StoredAttempts): Promise<boolean> {
    // A unit replayed from the ledger: its attempts from its objects' outcomes (none to be had: it is scanned).
    const attempts = isStoredAttempts(given) ? await given.load() : given;
    if (!attempts) return false;
    this.units.push({ unit: unit.id, series: unit.series, attempts: [...attempts] });
    return true;
  }

  override verdict(_object: string, _integrity: FileIntegrity): void {}

  override finishAll(): Alert[] {
    return [];
  }
}
