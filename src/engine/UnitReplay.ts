import { createHash } from "node:crypto";
import type { DigestFile } from "../cts/digestFile.js";
import { parseObjectKey } from "../cts/objectKey.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import type { Alert } from "../detect/types.js";
import { DELIVERY_DELAY_MS, DIGEST_PERIOD_MS } from "../integrity/timing.js";
import type { DigestRead } from "../integrity/types.js";
import type { DigestRecord, FileRecord, GapRecord } from "../report/types.js";
import type { ObjectSource, SourceObject } from "../sources/types.js";
import type { ChainCarry, SeriesCarry, Settled } from "./ChainCarry.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { planObject, UPLOAD_GRACE_MS } from "./plan.js";
import type { Slot } from "./scanObject.js";
import type { EngineOptions } from "./types.js";
import type { Unit } from "./units.js";

/** The body's own format: a body of another version is not replayed (the unit is scanned and stored again). */
const FORMAT = 1;
const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * A unit's outcome depends on the carry of the unit before it, and that carry on the unit before that (the gaps it
 * wrote were judged with its predecessor's digests): the window's effect and a read that failed reach this far.
 */
const DEPTH = 3;

/** A listed object as stored with a held slot. */
interface StoredObject {
  key: string;
  size: number;
  etag?: string;
  lastModified?: number;
  explicit?: boolean;
  unreadable?: string;
}

/** A settled file: what writing it and counting it need (its window is applied again on replay). */
interface StoredFile {
  record: FileRecord;
  alerts?: Alert[];
  matchedTimes?: Array<number | null>;
  overdueChain?: string;
}

/** A slot the next unit judges again (held), whole. */
interface StoredSlot extends StoredFile {
  object: StoredObject;
  hashes?: Record<string, string>;
  baseReason?: string;
}

type StoredDigestFile = Omit<DigestFile, "startTime" | "endTime"> & {
  startTime: number | null;
  endTime: number | null;
};

interface StoredRead {
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
interface UnitBody {
  head: { v: number; reused: number };
  output: { digests: DigestRecord[]; gaps: GapRecord[]; files: StoredFile[]; missing: FileRecord[] };
  /** The unit's login attempts, for the windowed rules. */
  attempts: LoginAttempt[];
  /** What the series carried to its next unit; null with verification off. */
  carry: StoredCarry | null;
}

interface StoredCarry {
  reads: StoredRead[];
  heldFiles: StoredSlot[];
  heldDigests: Array<{ slot: StoredSlot; record: DigestRecord }>;
  recentKeys: string[];
  written: string[];
}

/** Per series in this run: the chained fingerprint so far, and the window tokens and cleanness of its last units. */
interface SeriesState {
  fingerprint: string;
  tokens: string[];
  clean: boolean[];
}

/** What replaying a unit needs from the unit's scan context. */
export interface ReplayContext {
  /** Undefined with verification off. */
  carry: ChainCarry | undefined;
  windows?: {
    settle(unit: Unit, attempts: readonly LoginAttempt[], fresh: readonly LoginAttempt[]): Promise<void>;
  };
  listed: (slot: Slot) => void;
  completed: (slot: Slot) => void;
  reused: () => void;
  /** A reason to start nothing more (a signal, time running out): the unit is scanned, its objects not started. */
  shouldStop?: () => string | undefined;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Unit-level replay (issue 12: "a rerun with the ledger is at least 5x faster"). A unit listed exactly as when an
 * earlier run settled it, under the same rules and the options that change outcomes, is not looked up object by
 * object, read or verified again: its settled records (files, digests, gaps, missing files, alerts with their
 * verdicts), its login attempts and the chain carry it handed to its next unit are replayed from one ledger record.
 *
 * Why it is exact: a unit's records are a function of its listing, the options, and the carry of the two units
 * before it in its series (the chains of a unit are its digests and its predecessor's; the predecessor's gaps and
 * held files were judged with the unit before that). The fingerprint chains every listing of the series in this
 * run, and the window's effect (as a token) of the last {@link DEPTH} units; a unit is stored only when those units
 * were clean (no read failed, nothing left unstarted: those are read again) and none of its records is `pending`
 * (the one verdict that changes with the clock alone: once a digest is overdue it stays overdue). The run's window
 * on trace times is applied again on replay, to the stored window-free alerts and trace times.
 */
export class UnitReplay {
  private readonly series = new Map<string, SeriesState>();
  /** Units cut in parts share an id: the n-th part of one is stored as `<id>#<n>`. */
  private readonly parts = new Map<string, number>();
  private readonly optionsToken: string;
  /** Whether a windowed rule is on: else a unit's attempts are neither kept nor read. */
  private readonly windowedRules: boolean;
  private current:
    { unit: Unit; id: string; fingerprint: string; cleanBefore: boolean; newestUpload: number } | undefined;

  constructor(
    private readonly ledger: LedgerPolicy,
    rulesId: string,
    private readonly options: EngineOptions,
    source: ObjectSource,
    private readonly window: TimeWindow,
    /** The run's now, as the chains judge with it: a verdict made before a digest was due is not stored. */
    private readonly now: Date,
    private readonly clock: () => Date,
  ) {
    const { rules } = options.rules ?? DEFAULT_RULES;
    this.windowedRules =
      options.command === "scan" &&
      (rules["brute-force"].enabled ||
        rules["password-spray"].enabled ||
        rules["failures-then-success"].enabled);
    const key = options.publicKey.export({ type: "spki", format: "der" }).toString("base64");
    this.optionsToken = JSON.stringify([
      FORMAT,
      rulesId,
      options.command,
      options.verify,
      sha256(key),
      source.name,
      source.bucket ?? null,
      source.partial === true,
      options.maxDecompressedBytes,
    ]);
  }

  /**
   * Fingerprints the unit (every unit of a run passes here first, in listing order) and replays it when the ledger
   * holds it under the same fingerprint; undefined: scan it (then {@link store}).
   */
  async replay(unit: Unit, ctx: ReplayContext): Promise<Settled[] | undefined> {
    const part = this.parts.get(unit.id) ?? 0;
    this.parts.set(unit.id, part + 1);
    const id = part === 0 ? unit.id : `${unit.id}#${part}`;
    let st = this.series.get(unit.series);
    if (!st) {
      st = { fingerprint: "", tokens: [], clean: [] };
      this.series.set(unit.series, st);
    }
    const [first, newestUpload] = uploadRange(unit);
    st.tokens.push(this.windowToken(first, newestUpload));
    if (st.tokens.length > DEPTH) st.tokens.shift();
    const hash = createHash("sha256").update(this.optionsToken).update("\n").update(st.fingerprint);
    hash.update(`\n${JSON.stringify(st.tokens)}\n`);
    for (const { object: o } of unit.objects)
      hash.update(
        `${o.key}\0${o.etag ?? `${o.size}:${o.lastModified?.getTime() ?? ""}`}\0${o.explicit ? 1 : 0}\0${o.unreadable ?? ""}\n`,
      );
    const fingerprint = hash.digest("hex");
    st.fingerprint = fingerprint;
    this.current = {
      unit,
      id,
      fingerprint,
      cleanBefore: st.clean.slice(-(DEPTH - 1)).every(Boolean),
      newestUpload,
    };

    // After a stop nothing more starts, replays included: the scan reports the unit's objects as not started.
    if (ctx.shouldStop?.()) return undefined;
    const stored = await this.ledger.attempt(`reading unit ${id}`, "read", undefined, (l) => l.getUnit(id));
    if (stored?.fingerprint !== fingerprint) return undefined;
    const lines = stored.body.split("\n", 4);
    let head: UnitBody["head"];
    let output: UnitBody["output"];
    try {
      head = JSON.parse(lines[0] ?? "") as UnitBody["head"];
      if (head.v !== FORMAT || lines.length !== 4) return undefined;
      output = JSON.parse(lines[1]!) as UnitBody["output"];
    } catch {
      return undefined; // not what this version wrote: scanned and stored again
    }
    const settled: Settled = {
      digests: output.digests,
      gaps: output.gaps,
      files: output.files.map((f) => this.outputSlot(f)),
      missing: output.missing,
    };
    for (const item of unit.objects) {
      if (planObject(this.options, item.object, item.key).action === "skip") continue;
      const progressSlot = { object: item.object, allAlerts: [] as Alert[] } as unknown as Slot;
      ctx.listed(progressSlot);
      ctx.completed(progressSlot);
    }
    for (let i = 0; i < head.reused; i++) ctx.reused();
    // As for objects reused from the ledger: the windows get the unit's attempts, and still read what earlier runs
    // kept for its day (attempts of objects not in this listing: the function's invocations, a planted context).
    if (ctx.windows)
      await ctx.windows.settle(unit, this.windowedRules ? (JSON.parse(lines[2]!) as LoginAttempt[]) : [], []);
    st.clean.push(true);
    if (st.clean.length > DEPTH) st.clean.shift();
    if (!ctx.carry) return [settled];
    return ctx.carry.replay(unit, settled, lines[3] === "null" ? undefined : this.lazyCarry(lines[3]!));
  }

  /**
   * After a scan: keeps the unit's settled records (the last of `settled`: the others finished other series) and
   * its carry for later runs, when they are final (see the class comment). Not in a dry run.
   */
  async store(
    unit: Unit,
    slots: readonly Slot[],
    settled: readonly Settled[],
    carry: ChainCarry | undefined,
    reused: number,
  ): Promise<void> {
    const cur = this.current;
    const st = this.series.get(unit.series);
    if (!cur || cur.unit !== unit || !st) return;
    const clean = slots.every(
      (s) =>
        s.record.status !== "failed" && !s.object.explicit && !s.record.reason?.startsWith("not started"),
    );
    st.clean.push(clean);
    if (st.clean.length > DEPTH) st.clean.shift();
    const own = settled[settled.length - 1];
    // Verdicts are made with the run's now: one made before a digest of the unit was due (pending, or unverified
    // that would now be unlisted) changes with the clock alone. Files held from the unit before are older.
    const settledForGood = this.now.getTime() >= cur.newestUpload + DIGEST_PERIOD_MS + DELIVERY_DELAY_MS;
    if (!clean || !cur.cleanBefore || !own || !settledForGood || this.hasPending(own)) return;
    const kept = carry?.carried(unit.series);
    if (kept?.heldFiles.some((s) => s.record.status === "failed" || s.record.integrity === "pending")) return;
    const attempts = this.windowedRules ? slots.flatMap((s) => s.attempts) : [];
    // Encoded now (the records take their verdicts later on), but only when it will be written (not in a dry run).
    if (!this.ledger.writable) return;
    const body: UnitBody = {
      head: { v: FORMAT, reused },
      output: {
        digests: own.digests,
        gaps: own.gaps,
        files: own.files.map((s) => storedFile(s)),
        missing: own.missing,
      },
      attempts,
      carry: kept ? storedCarry(kept) : null,
    };
    const stored = {
      fingerprint: cur.fingerprint,
      body: [body.head, body.output, body.attempts, body.carry]
        .map((part) => JSON.stringify(part))
        .join("\n"),
      at: this.clock().toISOString(),
    };
    await this.ledger.later(`recording unit ${cur.id}`, (l) => l.putUnit(cur.id, stored));
  }

  /** Pending: its digest is not due yet; a later run would judge it again (the clock moved). */
  private hasPending(s: Settled): boolean {
    return (
      s.files.some((f) => f.record.integrity === "pending") ||
      s.missing.some((f) => f.integrity === "pending")
    );
  }

  /**
   * How the window bears on the unit: `whole` when it holds every upload time the unit's chains look at (its own,
   * two days back for the previous unit's digests, a day on for late links), else the window itself.
   */
  private windowToken(first: number, last: number): string {
    const { since, until } = this.options;
    if (!since && !until) return "whole";
    if (first === Infinity) return "whole";
    const covered =
      (!since || since.getTime() <= first - 2 * DAY_MS) &&
      (!until || until.getTime() >= last + DAY_MS + 2 * UPLOAD_GRACE_MS);
    return covered ? "whole" : `${since?.toISOString() ?? ""}/${until?.toISOString() ?? ""}`;
  }

  /** The run's window on trace times, as scanUnit applies it. */
  private windowed(slot: Slot, f: StoredFile): void {
    slot.alerts =
      slot.allAlerts.length === 0
        ? []
        : slot.allAlerts.filter((a) => this.window.contains(a.time ? Date.parse(a.time) : undefined));
    if (f.matchedTimes)
      slot.record.matched = f.matchedTimes.filter((t) => this.window.contains(t ?? undefined)).length;
  }

  /** A replayed settled file: only what writing and counting it read (summaries read the key when overdue). */
  private outputSlot(f: StoredFile): Slot {
    const slot = {
      record: f.record,
      allAlerts: f.alerts ?? [],
      matchedTimes: f.matchedTimes ?? [],
      attempts: [],
      alerts: [],
      reused: true,
      ...(f.overdueChain !== undefined
        ? { overdueChain: f.overdueChain, key: parseObjectKey(f.record.object) }
        : {}),
    } as unknown as Slot;
    this.windowed(slot, f);
    return slot;
  }

  private heldSlot(s: StoredSlot): Slot {
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
    this.windowed(slot, s);
    return slot;
  }

  /** The stored carry, parsed when the chains first read it (never, when the next unit is replayed too). */
  private lazyCarry(text: string): SeriesCarry {
    let restored: SeriesCarry | undefined;
    const get = (): SeriesCarry => {
      if (restored) return restored;
      const c = JSON.parse(text) as StoredCarry;
      restored = {
        reads: c.reads.map(restoreRead),
        heldFiles: c.heldFiles.map((s) => this.heldSlot(s)),
        heldDigests: c.heldDigests.map((d) => ({ slot: this.heldSlot(d.slot), record: d.record })),
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
}

/** The oldest and newest upload time of a unit's objects (Infinity and -Infinity when none has one). */
function uploadRange(unit: Unit): [number, number] {
  let first = Infinity;
  let last = -Infinity;
  for (const { key } of unit.objects) {
    const t = key.uploadTime?.getTime();
    if (t === undefined || Number.isNaN(t)) continue;
    if (t < first) first = t;
    if (t > last) last = t;
  }
  return [first, last];
}

function storedFile(s: Slot): StoredFile {
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

function storedCarry(c: SeriesCarry): StoredCarry {
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
