import type { DigestFile } from "../cts/digestFile.js";
import type { SeriesCarry } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import type { Unit } from "./units.js";
import { compactRecord, deref, expandItem, expandRecord, keyIndex, ref, type KeyRef } from "./keyRefs.js";
import { storedFile, type StoredFile } from "./storedFile.js";
import type { DigestRecord } from "../report/types.js";

/**
 * The chain carry a unit hands its next unit, as the unit's replay body keeps it (its fourth line, parsed only when
 * the next unit is scanned: replayedSlots.ts `lazyCarry`).
 */
/** A listed object as stored with a held slot. */
export interface StoredObject {
  key: string;
  size: number;
  etag?: string;
  lastModified?: number;
  explicit?: boolean;
  unreadable?: string;
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

export interface StoredCarry {
  reads: StoredRead[];
  heldFiles: StoredSlot[];
  heldDigests: Array<{ slot: StoredSlot; record: DigestRecord }>;
  recentKeys: string[];
  written: string[];
}

function storedSlot(s: Slot, index: ReadonlyMap<string, number>): StoredSlot {
  const o = s.object;
  return {
    ...storedFile(s, index),
    object: {
      key: ref(o.key, index) as string,
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

/**
 * The carry a unit hands its next unit, as its body keeps it: keys of the unit's listing as {@link KeyRef}s (in
 * `StoredObject.key`, `StoredRead.key` and a digest's log files, typed as strings where they are stored), which
 * {@link expandCarry} puts back. A digest's list of files is most of a carry.
 */
export function storedCarry(c: SeriesCarry, unit: Unit): StoredCarry {
  const index = keyIndex(unit);
  const key = (k: string) => ref(k, index) as string;
  return {
    reads: c.reads.map((r) => ({
      key: key(r.key.key),
      readFailed: r.readFailed,
      ...(r.md5 !== undefined ? { md5: r.md5 } : {}),
      ...(r.problem !== undefined ? { problem: r.problem } : {}),
      ...(r.metadataSignature !== undefined ? { metadataSignature: r.metadataSignature } : {}),
      ...(r.explicit !== undefined ? { explicit: r.explicit } : {}),
      ...(r.digest
        ? {
            digest: {
              ...r.digest,
              object: key(r.digest.object),
              ...(r.digest.previous
                ? { previous: { ...r.digest.previous, object: key(r.digest.previous.object) } }
                : {}),
              logFiles: r.digest.logFiles.map((f) => ({ ...f, object: key(f.object) })),
              startTime: timeOrNull(r.digest.startTime),
              endTime: timeOrNull(r.digest.endTime),
            },
          }
        : {}),
    })),
    heldFiles: c.heldFiles.map((s) => storedSlot(s, index)),
    heldDigests: c.heldDigests.map((d) => ({
      slot: storedSlot(d.slot, index),
      record: compactRecord(d.record, index),
    })),
    recentKeys: [...c.recentKeys].map(key),
    written: [...c.written],
  };
}

/** Puts back, in place, the keys {@link storedCarry} kept as {@link KeyRef}s. */
export function expandCarry(c: StoredCarry, unit: Unit): StoredCarry {
  const key = (k: string) => deref(k as KeyRef, unit);
  for (const r of c.reads) {
    r.key = key(r.key);
    if (r.digest) {
      r.digest.object = key(r.digest.object);
      if (r.digest.previous) r.digest.previous.object = key(r.digest.previous.object);
      for (const f of r.digest.logFiles) f.object = key(f.object);
    }
  }
  for (const s of [...c.heldFiles, ...c.heldDigests.map((d) => d.slot)]) {
    s.object.key = key(s.object.key);
    expandRecord(s.record, unit);
    for (const a of s.alerts ?? []) expandItem(a, unit);
  }
  for (const d of c.heldDigests) expandRecord(d.record, unit);
  c.recentKeys = c.recentKeys.map(key);
  return c;
}

const timeOrNull = (d: Date) => (Number.isNaN(d.getTime()) ? null : d.getTime());
