import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import type { SeriesCarry, Settled } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import { summarizeAttempts, type AttemptsSummary } from "./StoredAttempts.js";
import type { Unit } from "./units.js";
import { storedCarry, type StoredCarry } from "./storedCarry.js";
import { storedFile, type StoredFile } from "./storedFile.js";
import { compactRecord, keyIndex } from "./keyRefs.js";

/**
 * A unit's replay record (UnitReplay's `StoredUnit.body`): what a settled unit's files, digests, gaps, the summary
 * of its attempts and its chain carry are kept as (replayedSlots.ts restores them).
 */

/** The body's own format: a body of another version is not replayed (the unit is scanned and stored again). */
export const FORMAT = 5;

/**
 * What `StoredUnit.body` holds: three lines of JSON (JSON text has no raw newline), so that a part is parsed only
 * when it is needed: the carry only when the next unit is scanned (a replayed one replaces it). The attempts are
 * not kept (see StoredAttempts): the ledger has them in the outcomes and in its attempt store. A unit's body is
 * megabytes: parsing is most of a replay's cost.
 */
export interface UnitBody {
  /** `attempts`: present when windowed rules are on (see StoredAttempts). */
  head: { v: number; reused: number; attempts?: AttemptsSummary };
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: StoredFile[]; missing: FileRecord[] };
  /** What the series carried to its next unit; null with verification off. */
  carry: StoredCarry | null;
}

/** A unit's settled output as a body keeps it: keys of the unit's listing as indexes (keyRefs.ts). */
export function compactOutput(
  unit: Unit,
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: readonly Slot[]; missing: FileRecord[] },
): Pick<UnitBody, "output"> {
  const index = keyIndex(unit);
  return {
    output: {
      digests: output.digests.map((d) => compactRecord(d, index)),
      gaps: output.gaps,
      files: output.files.map((s) => storedFile(s, index)),
      missing: output.missing,
    },
  };
}

/**
 * A settled unit's body, encoded: its own settled records, the summary of its attempts (when windowed rules are on:
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
    ...compactOutput(unit, own),
    carry: carry ? storedCarry(carry, unit) : null,
  });
}

/** The body as stored: three lines of JSON (see {@link UnitBody}). */
function encodeBody(body: UnitBody): string {
  return [body.head, body.output, body.carry].map((part) => JSON.stringify(part)).join("\n");
}
