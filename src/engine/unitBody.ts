import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert, FileIntegrity } from "../detect/types.js";
import type { IntegrityFinding } from "../notify/buildDigest.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import type { SeriesCarry, Settled } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import { summarizeAttempts, type AttemptsSummary } from "./StoredAttempts.js";
import type { Unit } from "./units.js";
import { storedCarry, type StoredCarry } from "./storedCarry.js";
import { compactItem, compactRecord, keyIndex, ref, type KeyRef } from "./keyRefs.js";
import { countFiles, type FileCounts } from "./RunTally.js";

/**
 * A unit's replay record (UnitReplay's `StoredUnit.body`): what a settled unit's files, digests, gaps, the summary
 * of its attempts and its chain carry are kept as (replayedSlots.ts restores them).
 */

/** The body's own format: a body of another version is not replayed (the unit is scanned and stored again). */
// 7: alert and attempt fields are redacted, and an unreadable file a digest lists is missing: bodies stored by
// earlier versions carry neither, so they are scanned again.
export const FORMAT = 7;

/**
 * A unit's settled files as a body keeps them, column by column; their records are the body's last lines (see
 * {@link UnitBody}). What the run reads of a replayed file is here, so that its record is written as its text.
 */
export interface StoredFiles {
  /** Each file's key. */
  refs: KeyRef[];
  integrity: FileIntegrity[];
  /** Each file's matched times (Slot.matchedTimes), 0 when its record has no `matched`. */
  times: Array<Array<number | null> | 0>;
  /** Alerts of the files that have any (every alert, whatever the window), by the file's index. */
  alerts: Array<[number, Alert[]]>;
  /** Files whose digest was overdue, by index: the chain (Slot.overdueChain). */
  overdue: Array<[number, string]>;
  /** What the files count into a run's summary, and their integrity findings (countFiles). */
  counts: FileCounts;
  findings: IntegrityFinding[];
  /**
   * Every record's `matched` counts all its times (the storing run's window cut none): the records' texts are
   * then what any run whose window cuts none of the times writes.
   */
  whole: boolean;
  /**
   * No key of the unit's listing has a character JSON escapes: a key's JSON is the key in quotes (JSON.stringify
   * of a key was most of writing a replayed record; the listing is the same on replay, as the fingerprint says).
   */
  plainKeys: boolean;
}

/** A character `JSON.stringify` escapes in a string: a quote, a backslash, a control character, a surrogate. */
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * What `StoredUnit.body` holds: lines of JSON (JSON text has no raw newline), so that a part is parsed only when
 * it is needed: the head, the output, the carry (only when the next unit is scanned: a replayed one replaces it),
 * then each file's record (keys as refs), in order: written out as text, never parsed when the window cuts none
 * of the unit's times. The attempts are not kept (see StoredAttempts): the ledger has them in the outcomes and in
 * its attempt store. A unit's body is megabytes: parsing is most of a replay's cost.
 */
export interface UnitBody {
  /** `attempts`: present when windowed rules are on (see StoredAttempts). */
  head: { v: number; reused: number; attempts?: AttemptsSummary };
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: StoredFiles; missing: FileRecord[] };
  /** What the series carried to its next unit; null with verification off. */
  carry: StoredCarry | null;
  /** Each file's record, `JSON.stringify(compactRecord(record))`, in the order of `output.files`. */
  records: string[];
}

/** The line of a body where its records start. */
export const RECORDS_LINE = 3;

/** A unit's settled output as a body keeps it: keys of the unit's listing as indexes (keyRefs.ts). */
export function compactOutput(
  unit: Unit,
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: readonly Slot[]; missing: FileRecord[] },
): Pick<UnitBody, "output" | "records"> {
  const index = keyIndex(unit);
  const files = output.files;
  const { counts, findings } = countFiles(files.map((s) => s.record));
  const alerts: StoredFiles["alerts"] = [];
  const overdue: StoredFiles["overdue"] = [];
  files.forEach((s, i) => {
    if (s.allAlerts.length > 0) alerts.push([i, s.allAlerts.map((a) => compactItem(a, index))]);
    if (s.overdueChain !== undefined) overdue.push([i, s.overdueChain]);
  });
  return {
    output: {
      digests: output.digests.map((d) => compactRecord(d, index)),
      gaps: output.gaps,
      files: {
        refs: files.map((s) => ref(s.record.object, index)),
        integrity: files.map((s) => s.record.integrity),
        times: files.map((s) => (s.record.matched !== undefined ? s.matchedTimes : 0)),
        alerts,
        overdue,
        counts,
        findings,
        whole: files.every(
          (s) => s.record.matched === undefined || s.record.matched === s.matchedTimes.length,
        ),
        plainKeys: unit.objects.every((o) => !ESCAPED.test(o.object.key)),
      },
      missing: output.missing,
    },
    records: files.map((s) => JSON.stringify(compactRecord(s.record, index))),
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
  const { output, records } = compactOutput(unit, own);
  const head: UnitBody["head"] = {
    v: FORMAT,
    reused,
    ...(withAttempts ? { attempts: summarizeAttempts(attempts) } : {}),
  };
  const carried: UnitBody["carry"] = carry ? storedCarry(carry, unit) : null;
  return [JSON.stringify(head), JSON.stringify(output), JSON.stringify(carried), ...records].join("\n");
}
