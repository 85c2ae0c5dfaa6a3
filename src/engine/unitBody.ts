import type { DigestFile } from "../cts/digestFile.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import type { SeriesCarry } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import type { Unit } from "./units.js";

/**
 * A unit's replay record (UnitReplay's `StoredUnit.body`): what a settled unit's files, digests, gaps,
 * attempts and chain carry are kept as (replayedSlots.ts restores them).
 */

/** The body's own format: a body of another version is not replayed (the unit is scanned and stored again). */
export const FORMAT = 3;

/**
 * Where a listed object's key stands in a body: its index in the unit's listing. A replay happens only when the
 * unit is listed exactly as when it was stored (its fingerprint chains the listing), so the index names the same
 * key. A key is most of a record's text (an object's and its digest's: two thirds of a body), and parsing a body
 * is most of a replay.
 */
export type KeyRef = string | number;

/** The listing's keys by position, to store keys as {@link KeyRef}s. */
export function keyIndex(unit: Unit): Map<string, number> {
  const index = new Map<string, number>();
  unit.objects.forEach((o, i) => index.set(o.object.key, i));
  return index;
}

const ref = (key: string, index: ReadonlyMap<string, number>): KeyRef => index.get(key) ?? key;
const deref = (key: KeyRef, unit: Unit): string =>
  typeof key === "number" ? (unit.objects[key]?.object.key ?? "") : key;

/** A record with its keys (`object`, and a file's `digest`) as {@link KeyRef}s, its fields in their order. */
function compactRecord<T extends { object: string; digest?: string }>(
  r: T,
  index: ReadonlyMap<string, number>,
): T {
  const out: Record<string, unknown> = {};
  for (const field in r) {
    const v = r[field];
    out[field] = (field === "object" || field === "digest") && typeof v === "string" ? ref(v, index) : v;
  }
  return out as T;
}

/** Puts back, in place, what {@link compactRecord} replaced (the field order stays: the same report text). */
export function expandRecord<T extends { object: string; digest?: string }>(r: T, unit: Unit): T {
  const loose = r as unknown as { object: KeyRef; digest?: KeyRef };
  if (typeof loose.object === "number") r.object = deref(loose.object, unit);
  if (typeof loose.digest === "number") r.digest = deref(loose.digest, unit);
  return r;
}

/**
 * An alert or attempt as a body keeps it: its `object` (the file's own key, in every one) as a {@link KeyRef}.
 */
function compactItem<T extends { object: string }>(item: T, index: ReadonlyMap<string, number>): T {
  const i = index.get(item.object);
  return i === undefined ? item : { ...item, object: i };
}

/** Puts back, in place, what {@link compactItem} replaced. */
export function expandItem<T extends { object: string }>(item: T, unit: Unit): T {
  const loose = item as unknown as { object: KeyRef };
  if (typeof loose.object === "number") item.object = deref(loose.object, unit);
  return item;
}

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

export function storedFile(s: Slot, index?: ReadonlyMap<string, number>): StoredFile {
  return {
    record: index ? compactRecord(s.record, index) : s.record,
    ...(s.allAlerts.length > 0
      ? { alerts: index ? s.allAlerts.map((a) => compactItem(a, index)) : s.allAlerts }
      : {}),
    ...(s.record.matched !== undefined ? { matchedTimes: s.matchedTimes } : {}),
    ...(s.overdueChain !== undefined ? { overdueChain: s.overdueChain } : {}),
  };
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

/** A unit's settled output and attempts as a body keeps them: keys of the unit's listing as {@link KeyRef}s. */
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

/** The body as stored: four lines of JSON (see {@link UnitBody}). */
export function encodeBody(body: UnitBody): string {
  return [body.head, body.output, body.attempts, body.carry].map((part) => JSON.stringify(part)).join("\n");
}
