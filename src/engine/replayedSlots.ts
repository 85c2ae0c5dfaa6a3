import { parseObjectKey } from "../cts/objectKey.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import type { DigestRead } from "../integrity/types.js";
import type { SourceObject } from "../sources/types.js";
import type { SeriesCarry } from "./ChainCarry.js";
import type { Slot } from "./scanObject.js";
import { expandCarry, type StoredCarry, type StoredRead, type StoredSlot } from "./storedCarry.js";
import { deref, expandItem, expandRecord, expandRecordText } from "./keyRefs.js";
import type { StoredFile } from "./storedFile.js";
import type { Unit } from "./units.js";
import type { Alert } from "../detect/types.js";
import type { FileRecord } from "../report/types.js";
import type { ReplayedFiles, Settled } from "./types.js";
import type { StoredFiles } from "./unitBody.js";

/** A replay's slots and chain carry, restored from a unit's replay record (unitBody.ts). */

/** The run's window applied again to a restored slot (its alerts and matched times). */
export type Windowed = (slot: Slot, f: StoredFile) => void;

/**
 * The empty list of a restored slot (alerts, attempts, times), shared: a rerun restores a slot a file, most with
 * nothing in them, and four new arrays each were a tenth of its garbage. Frozen: nothing may add to it.
 */
const NONE = Object.freeze([]) as unknown as never[];

/** The alerts of `all` inside the window (an alert without a time is kept, as the window keeps such traces). */
function alertsIn(window: TimeWindow, all: Alert[]): Alert[] {
  return all.length === 0
    ? NONE
    : all.filter((a) => window.contains(a.time ? Date.parse(a.time) : undefined));
}

/** The run's window on trace times applied to a restored slot, as scanUnit applies it to a scanned one. */
export function windowedBy(window: TimeWindow): Windowed {
  return (slot, f) => {
    slot.alerts = alertsIn(window, slot.allAlerts);
    if (f.matchedTimes) slot.record.matched = window.count(f.matchedTimes);
  };
}

/** A replayed settled file: only what writing and counting it read (summaries read the key when overdue). */
export function outputSlot(f: StoredFile, unit: Unit, windowed: Windowed): Slot {
  const slot = {
    record: expandRecord(f.record, unit),
    allAlerts: f.alerts ? f.alerts.map((a) => expandItem(a, unit)) : NONE,
    matchedTimes: f.matchedTimes ?? NONE,
    attempts: NONE,
    alerts: NONE,
    reused: true,
    ...(f.overdueChain !== undefined
      ? { overdueChain: f.overdueChain, key: parseObjectKey(f.record.object) }
      : {}),
  } as unknown as Slot;
  windowed(slot, f);
  return slot;
}

/**
 * A replayed unit's files (its body's `files` and record lines, from `first`). When the report takes records as
 * text (`asText`) and the run's window cuts none of their times (and the storing run's cut none), they are written
 * from their records' text, never parsed ({@link ReplayedFiles}); else each is restored as a slot (parsed now: a
 * record that does not parse throws here, and the unit is scanned), its count taken again.
 */
export function restoreFiles(
  stored: StoredFiles,
  lines: readonly string[],
  first: number,
  unit: Unit,
  window: TimeWindow,
  windowed: Windowed,
  asText: boolean,
): Pick<Settled, "files" | "replayed"> {
  const alerts = new Map(stored.alerts);
  const overdue = new Map(stored.overdue);
  const line = (i: number) => lines[first + i] ?? "";
  const cut =
    (window.since || window.until) && stored.times.some((t) => t !== 0 && window.count(t) !== t.length);
  if (!asText || !stored.whole || cut)
    return {
      files: stored.refs.map((_, i) => {
        const t = stored.times[i];
        const a = alerts.get(i);
        const o = overdue.get(i);
        const f: StoredFile = {
          record: JSON.parse(line(i)) as FileRecord,
          ...(a ? { alerts: a } : {}),
          ...(t ? { matchedTimes: t } : {}),
          ...(o !== undefined ? { overdueChain: o } : {}),
        };
        return outputSlot(f, unit, windowed);
      }),
    };
  // A key as JSON: in quotes when none needs escaping; else once a unit (a digest's serves the files it lists).
  const quotedKeys: string[] = [];
  const quoted = stored.plainKeys
    ? (n: number) => `"${deref(n, unit)}"`
    : (n: number) => (quotedKeys[n] ??= JSON.stringify(deref(n, unit)));
  const windowedAlerts = new Map<number, Alert[]>();
  for (const [i, all] of alerts)
    windowedAlerts.set(
      i,
      alertsIn(
        window,
        all.map((a) => expandItem(a, unit)),
      ),
    );
  const replayed: ReplayedFiles = {
    size: stored.refs.length,
    object: (i) => deref(stored.refs[i] ?? "", unit),
    integrity: (i) => stored.integrity[i] ?? "unverified",
    text: (i) => expandRecordText(line(i), unit, quoted),
    record: (i) => expandRecord(JSON.parse(line(i)) as FileRecord, unit),
    alerts: (i) => windowedAlerts.get(i),
    counts: stored.counts,
    findings: stored.findings,
    overdue: stored.overdue.map(([i, chain]) => ({ chain, object: deref(stored.refs[i] ?? "", unit) })),
  };
  return { files: [], replayed };
}

/** A slot the next unit judges again, as the chains hold it. */
function heldSlot(s: StoredSlot, windowed: Windowed): Slot {
  const o = s.object;
  const object: SourceObject = {
    key: o.key,
    size: o.size,
    ...(o.etag !== undefined ? { etag: o.etag } : {}),
    ...(o.lastModified !== undefined ? { lastModified: new Date(o.lastModified) } : {}),
    ...(o.explicit !== undefined ? { explicit: o.explicit } : {}),
    ...(o.unreadable !== undefined ? { unreadable: o.unreadable } : {}),
  };
  const slot: Slot = {
    object,
    key: parseObjectKey(o.key),
    record: s.record,
    allAlerts: s.alerts ?? [],
    matchedTimes: s.matchedTimes ?? [],
    attempts: [],
    alerts: [],
    reused: true,
    ...(s.hashes ? { hashes: s.hashes } : {}),
    ...(s.baseReason !== undefined ? { baseReason: s.baseReason } : {}),
    ...(s.overdueChain !== undefined ? { overdueChain: s.overdueChain } : {}),
  };
  windowed(slot, s);
  return slot;
}

/** The stored carry, parsed when the chains first read it (never, when the next unit is replayed too). */
export function lazyCarry(text: string, unit: Unit, windowed: Windowed): SeriesCarry {
  let restored: SeriesCarry | undefined;
  const get = (): SeriesCarry => {
    if (restored) return restored;
    const c = expandCarry(JSON.parse(text) as StoredCarry, unit);
    restored = {
      reads: c.reads.map(restoreRead),
      heldFiles: c.heldFiles.map((s) => heldSlot(s, windowed)),
      heldDigests: c.heldDigests.map((d) => ({ slot: heldSlot(d.slot, windowed), record: d.record })),
      recentKeys: new Set(c.recentKeys),
      written: new Set(c.written),
    };
    return restored;
  };
  return {
    get reads() {
      return get().reads;
    },
    get heldFiles() {
      return get().heldFiles;
    },
    get heldDigests() {
      return get().heldDigests;
    },
    get recentKeys() {
      return get().recentKeys;
    },
    get written() {
      return get().written;
    },
  };
}

function restoreRead(r: StoredRead): DigestRead {
  return {
    key: parseObjectKey(r.key),
    md5: r.md5,
    digest: r.digest
      ? {
          ...r.digest,
          startTime: new Date(r.digest.startTime ?? NaN),
          endTime: new Date(r.digest.endTime ?? NaN),
        }
      : undefined,
    problem: r.problem,
    readFailed: r.readFailed,
    metadataSignature: r.metadataSignature,
    ...(r.explicit !== undefined ? { explicit: r.explicit } : {}),
  };
}
