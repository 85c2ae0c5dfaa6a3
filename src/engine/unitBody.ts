import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import type { SeriesCarry, Settled } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import { summarizeAttempts, type AttemptsSummary } from "./StoredAttempts.js";
import type { Unit } from "./units.js";
import { storedCarry, type StoredCarry } from "./storedCarry.js";
import { storedFile, type StoredFile } from "./storedFile.js";
import { compactItem, compactRecord, keyIndex } from "./keyRefs.js";

/**
 * A unit's replay record (UnitReplay's `StoredUnit.body`): what a settled unit's files, digests, gaps,
 * attempts and chain carry are kept as (replayedSlots.ts restores them).
 */

/** The body's own format: a body of another version is not replayed (the unit is scanned and stored again). */
export const FORMAT = 4;

/**
 * What `StoredUnit.body` holds: four lines of JSON (JSON text has no raw newline), so that a part is parsed only
 * when it is needed: the carry only when the next unit is scanned (a replayed one replaces it), the attempts only
 * when windowed rules are on. A unit's body is megabytes: parsing is most of a replay's cost.
 */
export interface UnitBody {
  /** `attempts`: present when windowed rules are on (see StoredAttempts). */
  head: { v: number; reused: number; attempts?: AttemptsSummary };
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: StoredFile[]; missing: FileRecord[] };
  /** The unit's login attempts, for the windowed rules. */
  attempts: LoginAttempt[];
  /** What the series carried to its next unit; null with verification off. */
  carry: StoredCarry | null;
}

/** A unit's settled output and attempts as a body keeps them: keys of the unit's listing as indexes (keyRefs.ts). */
export function compactOutput(
  unit: Unit,
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: readonly Slot[]; missing: FileRecord[] },
  attempts: readonly LoginAttempt[],
): Pick<UnitBody, "output" | "attempts"> {
  const index = keyIndex(unit);
  return {
    output: {
      digests: output.digests.map((d) => compactRecord(d, index)),
      gaps: output.gaps,
      files: output.files.map((s) => storedFile(s, index)),
      missing: output.missing,
    },
    attempts: attempts.map((a) => compactItem(a, index)),
  };
}

/**
 * A settled unit's body, encoded: its own settled records, its attempts (when windowed rules are on, with their
 * summary), and the carry it hands its next unit.
 */
export function encodeUnit(
  unit: Unit,
  own: Settled,
  attempts: readonly LoginAttempt[],
  carry: SeriesCarry | undefined,
  reused: number,
  withAttempts: boolean,
): string {
  return encodeBody({
    head: { v: FORMAT, reused, ...(withAttempts ? { attempts: summarizeAttempts(attempts) } : {}) },
    ...compactOutput(unit, own, attempts),
    carry: carry ? storedCarry(carry, unit) : null,
  });
}

/** The body as stored: four lines of JSON (see {@link UnitBody}). */
export function encodeBody(body: UnitBody): string {
  return [body.head, body.output, body.attempts, body.carry].map((part) => JSON.stringify(part)).join("\n");
}
