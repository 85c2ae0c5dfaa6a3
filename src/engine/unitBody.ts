import type { DigestFile } from "../cts/digestFile.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import type { SeriesCarry } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";

/**
 * A unit's replay record (UnitReplay's `StoredUnit.body`): what a settled unit's files, digests, gaps,
 * attempts and chain carry are kept as (replayedSlots.ts restores them).
 */

/** The body's own format: a body of another version is not replayed (the unit is scanned and stored again). */
export const FORMAT = 1;

/** A listed object as stored with a held slot. */
export interface StoredObject {
  key: string;
  size: number;
  etag?: string;
  lastModified?: number;
  explicit?: boolean;
  unreadable?: string;
}

/** A settled file: what writing it and counting it need (its window is applied again on replay). */
export interface StoredFile {
  record: FileRecord;
  alerts?: Alert[];
  matchedTimes?: Array<number | null>;
  overdueChain?: string;
}

/** A slot the next unit judges again (held), whole. */
export interface StoredSlot extends StoredFile {
  object: StoredObject;
  hashes?: Record<string, string>;
  baseReason?: string;
}

export type StoredDigestFile = Omit<DigestFile, "startTime" | "endTime"> & {
  startTime: number | null;
  endTime: number | null;
};

export interface StoredRead {
  key: string;
  md5?: string;
  digest?: StoredDigestFile;
  problem?: string;
  readFailed: boolean;
  metadataSignature?: string;
  explicit?: boolean;
}

/**
 * What `StoredUnit.body` holds: four lines of JSON (JSON text has no raw newline), so that a part is parsed only
 * when it is needed: the carry only when the next unit is scanned (a replayed one replaces it), the attempts only
 * when windowed rules are on. A unit's body is megabytes: parsing is most of a replay's cost.
 */
export interface UnitBody {
  head: { v: number; reused: number };
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: StoredFile[]; missing: FileRecord[] };
  /** The unit's login attempts, for the windowed rules. */
  attempts: LoginAttempt[];
  /** What the series carried to its next unit; null with verification off. */
  carry: StoredCarry | null;
}

export interface StoredCarry {
  reads: StoredRead[];
  heldFiles: StoredSlot[];
  heldDigests: Array<{ slot: StoredSlot; record: DigestRecord }>;
  recentKeys: string[];
  written: string[];
}

export function storedFile(s: Slot): StoredFile {
  return {
    record: s.record,
    ...(s.allAlerts.length > 0 ? { alerts: s.allAlerts } : {}),
    ...(s.record.matched !== undefined ? { matchedTimes: s.matchedTimes } : {}),
    ...(s.overdueChain !== undefined ? { overdueChain: s.overdueChain } : {}),
  };
}

function storedSlot(s: Slot): StoredSlot {
  const o = s.object;
  return {
    ...storedFile(s),
    object: {
      key: o.key,
      size: o.size,
      ...(o.etag !== undefined ? { etag: o.etag } : {}),
      ...(o.lastModified ? { lastModified: o.lastModified.getTime() } : {}),
      ...(o.explicit !== undefined ? { explicit: o.explicit } : {}),
      ...(o.unreadable !== undefined ? { unreadable: o.unreadable } : {}),
    },
    ...(s.hashes ? { hashes: s.hashes } : {}),
    ...(s.baseReason !== undefined ? { baseReason: s.baseReason } : {}),
  };
}

export function storedCarry(c: SeriesCarry): StoredCarry {
  return {
    reads: c.reads.map((r) => ({
      key: r.key.key,
      readFailed: r.readFailed,
      ...(r.md5 !== undefined ? { md5: r.md5 } : {}),
      ...(r.problem !== undefined ? { problem: r.problem } : {}),
      ...(r.metadataSignature !== undefined ? { metadataSignature: r.metadataSignature } : {}),
      ...(r.explicit !== undefined ? { explicit: r.explicit } : {}),
      ...(r.digest
        ? {
            digest: {
              ...r.digest,
              startTime: timeOrNull(r.digest.startTime),
              endTime: timeOrNull(r.digest.endTime),
            },
          }
        : {}),
    })),
    heldFiles: c.heldFiles.map(storedSlot),
    heldDigests: c.heldDigests.map((d) => ({ slot: storedSlot(d.slot), record: d.record })),
    recentKeys: [...c.recentKeys],
    written: [...c.written],
  };
}

const timeOrNull = (d: Date) => (Number.isNaN(d.getTime()) ? null : d.getTime());

/** The body as stored: four lines of JSON (see {@link UnitBody}). */
export function encodeBody(body: UnitBody): string {
  return [body.head, body.output, body.attempts, body.carry].map((part) => JSON.stringify(part)).join("\n");
}
