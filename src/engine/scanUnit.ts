import type { AuditRules } from "../detect/AuditRules.js";
import { CtsAuditError } from "../errors.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import { readDigest } from "../integrity/readDigest.js";
import type { ByteBudget } from "../parse/ByteBudget.js";
import type { DigestChains } from "../integrity/DigestChains.js";
import type { DigestRead } from "../integrity/types.js";
import type { ObjectSource } from "../sources/types.js";
import type { ChainCarry, Settled } from "./ChainCarry.js";
import type { WindowCarry } from "./WindowCarry.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { planObject, type Plan } from "./plan.js";
import { hashFile, MD5_HEX, scanFile, type Slot } from "./scanObject.js";
import type { EngineOptions } from "./types.js";
import type { Unit } from "./units.js";
import type { UnitReplay } from "./UnitReplay.js";

// A transaction is flushed to disk when it commits: batches of thousands keep that a small cost per object.
const RECORD_BATCH = 10_000;
const RECORD_INTERVAL_MS = 1000;

/** What scanning a unit needs besides the unit. */
export interface UnitContext {
  options: EngineOptions;
  source: ObjectSource;
  rules: AuditRules;
  window: TimeWindow;
  ledger: LedgerPolicy;
  /** Undefined when verification is off. */
  carry: ChainCarry | undefined;
  /** The windowed rules carried across units; undefined when none is enabled. */
  windows?: WindowCarry;
  bufferLimit: number;
  warn?: (message: string) => void;
  shouldStop?: () => string | undefined;
  /** An object needing work was listed / completed. */
  listed: (slot: Slot) => void;
  completed: (slot: Slot) => void;
  /** An object's outcome came from the ledger. */
  reused: () => void;
  /**
   * Slots for objects being read, shared by the units in flight (one unit's files, the next one's digests read
   * ahead): `concurrency` objects in flight in all, however the units overlap. Undefined: each phase has its own
   * `concurrency`.
   */
  requests?: ByteBudget;
  /** Replays units an earlier run settled, listed the same (absent without a usable ledger). */
  replay?: UnitReplay;
}

/** A unit's outcome: its records settled so far, in the order they are written. */
export interface UnitOutcome {
  settled: Settled[];
  /** The login attempts of objects read in this run (not reused from the ledger), for the per-user baselines. */
  fresh: LoginAttempt[];
}

function slotOf(item: Unit["objects"][number], plan: Plan): Slot {
  const { object, key } = item;
  return {
    object,
    key,
    allAlerts: [],
    attempts: [],
    matchedTimes: [],
    alerts: [],
    record: {
      object: object.key,
      kind: object.explicit && key.kind !== "digest" ? "trace" : key.kind,
      status: plan.action === "skip" ? "skipped" : "scanned",
      traces: 0,
      integrity: "unverified",
      error: "",
      ...(plan.action === "skip" || (plan.action === "hash" && plan.reason) ? { reason: plan.reason } : {}),
      bytes: object.size,
    },
  };
}

/** A unit planned and its digests read: what can be done before the previous unit has settled. */
export interface PreparedUnit {
  slots: Slot[];
  plans: Map<Slot, Plan>;
  fileSlots: Slot[];
  /** The unit's digests, in listing order. */
  reads: DigestRead[];
}

/**
 * Plans a unit's objects and reads its digests. Nothing here depends on earlier units (the chains across
 * midnight are built in `scanUnit`, after the previous unit settled), so the engine runs it for the next unit
 * while the current one's files are read: over OBS, requests keep flowing between units.
 */
export async function prepareUnit(unit: Unit, ctx: UnitContext): Promise<PreparedUnit> {
  const { options } = ctx;
  const plans = new Map<Slot, Plan>();
  const slots = unit.objects.map((item) => {
    const plan = planObject(options, item.object, item.key);
    const slot = slotOf(item, plan);
    plans.set(slot, plan);
    if (plan.action !== "skip") ctx.listed(slot);
    return slot;
  });
  const digestSlots = slots.filter((s) => plans.get(s)!.action === "digest");
  const fileSlots = slots.filter((s) => ["parse", "hash"].includes(plans.get(s)!.action));

  // Digests first: they are small, and they say which hash each trace file needs.
  const reads: DigestRead[] = new Array<DigestRead>(digestSlots.length);
  await eachLimited(digestSlots.length, options.concurrency, async (i) => {
    const slot = digestSlots[i]!;
    const read = await gated(ctx.requests, () =>
      readDigest(ctx.source, slot.key, slot.object.explicit === true, slot.object.size),
    );
    reads[i] = read;
    if (read.md5) {
      slot.hashes = { md5: read.md5 };
      slot.record.md5 = read.md5;
    }
    if (read.readFailed) {
      slot.record.status = "failed";
      slot.record.error = read.problem ?? "digest could not be read";
    }
    ctx.completed(slot);
  });
  return { slots, plans, fileSlots, reads };
}

/** `task` holding one of the shared request slots, when there are any. */
async function gated<T>(requests: ByteBudget | undefined, task: () => Promise<T>): Promise<T> {
  if (!requests) return task();
  if (!requests.tryAcquire(1)) await requests.acquire(1);
  try {
    return await task();
  } finally {
    requests.release(1);
  }
}

/**
 * One unit through the pipeline: plan each object, look up what the ledger already holds, read the digests,
 * scan or hash the trace files (at most `concurrency` at a time), record the outcomes in one ledger transaction,
 * then settle verdicts with the digest chains carried across units.
 */
export async function scanUnit(
  unit: Unit,
  ctx: UnitContext,
  /** The unit's digests read ahead (`prepareUnit`, while the previous unit's files were read); else read here. */
  prepared?: Promise<PreparedUnit>,
): Promise<UnitOutcome> {
  // A unit listed exactly as an earlier run settled it is replayed (after the previous unit settled: it restores
  // the chain carry). Its digests may have been read ahead for nothing: the price of reading ahead over OBS.
  const replayed = await ctx.replay?.replay(unit, ctx);
  if (replayed) {
    void prepared?.catch(() => undefined);
    return { settled: replayed, fresh: [] };
  }
  return readUnit(unit, ctx, prepared).settle();
}

/** A unit whose files are being read, to be settled in listing order. */
export interface UnitReading {
  /**
   * Resolves once every file of the unit has been handed to a runner (or the reading failed): from then on the
   * unit has fewer requests to make than slots, and the next unit's files may start. Never rejects.
   */
  dispatched: Promise<void>;
  /** The unit's digests (its context for the next unit's chains). */
  reads: Promise<readonly DigestRead[]>;
  /** Waits for the unit's reads, then settles it: call it after the previous unit settled. */
  settle(): Promise<UnitOutcome>;
}

/** How a unit read before the previous one settled (`readUnit`) fits after it. */
export interface ReadAfter {
  /** The unit listed just before, still being read or settled: its digests are this unit's chain context. */
  previous: { unit: Unit; reads: Promise<readonly DigestRead[]> };
  /** Resolves when the previous unit has settled: this unit's ledger batches are written after its. */
  settled: Promise<unknown>;
}

/**
 * The reading half of `scanUnit` (no replay: the caller decided the unit is read). With `after`, the unit's files
 * are read while the previous unit's last files are still in flight and while it settles: over OBS the slots a
 * unit's tail and its settling leave idle are filled with the next unit's requests. What the reading needs from
 * the previous unit is only its digests (the chains say which hashes each file needs), known once it was
 * prepared; the chains, verdicts, windows and ledger batches still follow listing order.
 */
export function readUnit(
  unit: Unit,
  ctx: UnitContext,
  prepared: Promise<PreparedUnit> | undefined,
  after?: ReadAfter,
): UnitReading {
  const { options } = ctx;
  let signal!: () => void;
  const dispatched = new Promise<void>((resolve) => (signal = resolve));
  const preparing = prepared ?? prepareUnit(unit, ctx);
  const reads = preparing.then((p) => p.reads as readonly DigestRead[]);
  reads.catch(() => undefined);

  // Completed objects are recorded in batches while the unit runs, so that a crash mid-unit keeps what was done
  // (a day folder can take minutes); one batch is one ledger transaction. Read ahead of the previous unit's
  // settling, the first batch waits for it: the ledger sees units in listing order.
  let batch: Slot[] = [];
  let lastRecord = Date.now();
  let recording: Promise<unknown> = after?.settled ?? Promise.resolve();
  const recordBatch = () => {
    const slots = batch;
    batch = [];
    lastRecord = Date.now();
    recording = recording.then(() => ctx.ledger.record(unit.id, slots));
    return recording;
  };

  const reading = (async () => {
    const { slots, plans, fileSlots, reads: own } = await preparing;
    const stored = await ctx.ledger.lookup(unit.id, fileSlots);
    let chains: DigestChains | undefined;
    let context: readonly DigestRead[] | undefined;
    if (ctx.carry && after)
      ({ chains, context } = ctx.carry.chainsAfter(
        { unit: after.previous.unit, reads: await after.previous.reads },
        unit,
        own,
      ));
    else chains = ctx.carry?.chainsFor(unit, own);

    const scanCtx = {
      source: ctx.source,
      chains,
      rules: ctx.rules,
      options,
      bufferLimit: ctx.bufferLimit,
      ...(ctx.warn ? { warn: ctx.warn } : {}),
    };
    // The window applies to trace times, here, so that stored outcomes serve any window.
    const finish = (slot: Slot) => {
      slot.alerts =
        slot.allAlerts.length === 0
          ? []
          : slot.allAlerts.filter((a) => ctx.window.contains(a.time ? Date.parse(a.time) : undefined));
      if (plans.get(slot)!.action === "parse")
        slot.record.matched = slot.matchedTimes.filter((t) => ctx.window.contains(t ?? undefined)).length;
      ctx.completed(slot);
    };
    const notStarted = (slot: Slot): boolean => {
      const stop = ctx.shouldStop?.();
      if (!stop) return false;
      slot.record.status = "skipped";
      slot.record.reason = `not started: ${stop}`;
      return true;
    };
    // Objects done by an earlier run under the same rules first, in one synchronous pass: their outcome stands
    // and they are not read again. A rerun is almost only these; a task (and its promises) each cost more than
    // the reuse.
    const toRead: Slot[] = [];
    for (const slot of fileSlots) {
      const kept = stored.get(slot.object.key);
      if (!kept) toRead.push(slot);
      else if (!notStarted(slot)) {
        // LedgerPolicy.lookup made the record a fresh object; alerts are copied (their verdict is set later).
        slot.record = kept.record;
        slot.allAlerts = kept.alerts.length === 0 ? [] : kept.alerts.map((a) => ({ ...a }));
        slot.matchedTimes = kept.matchedTimes;
        slot.attempts = kept.attempts ?? [];
        slot.reused = true;
        if (kept.hashes) slot.hashes = kept.hashes;
        ctx.reused();
        finish(slot);
      }
    }
    await eachLimited(
      toRead.length,
      options.concurrency,
      async (i) => {
        const slot = toRead[i]!;
        if (notStarted(slot)) return;
        if (plans.get(slot)!.action === "parse") await gated(ctx.requests, () => scanFile(slot, scanCtx));
        else if (chains && !slot.object.explicit) {
          // Hashed from the listing's ETag (no read) unless the digest asks for another algorithm.
          const download = !etagIsHash(slot, chains);
          await (download
            ? gated(ctx.requests, () => hashFile(slot, { ...scanCtx, chains }))
            : hashFile(slot, { ...scanCtx, chains }));
        } else slot.record.status = "skipped";
        batch.push(slot);
        finish(slot);
        if (batch.length >= RECORD_BATCH || Date.now() - lastRecord >= RECORD_INTERVAL_MS)
          await recordBatch();
      },
      signal,
    );
    await recordBatch();
    return { slots, fileSlots, reads: own, chains, context };
  })();
  // The caller waits on `dispatched` before it settles anything: a failure must end that wait (and is thrown by
  // `settle`).
  reading.then(signal, signal);

  return {
    dispatched,
    reads,
    async settle(): Promise<UnitOutcome> {
      const { slots, fileSlots, reads: own, chains, context } = await reading;
      // chainsAfter assumed how the previous unit would leave the carry; a replay or a shard's context unit in
      // between would break that, which the engine never pipelines. Checked, not assumed: verdicts depend on it.
      if (ctx.carry && context && !ctx.carry.settledAs(unit, context))
        throw new CtsAuditError(
          "INTERNAL",
          `unit ${unit.id} was read before the previous unit settled, but that unit did not leave the digest context it was read with`,
        );
      // Windows see every attempt the unit's files gave (those of objects reused from the ledger come from
      // there). Only the attempts read in this run are kept again: a reused object's are in the ledger already.
      const fresh = slots.flatMap((s) => (s.reused ? [] : s.attempts));
      await ctx.windows?.settle(
        unit,
        slots.flatMap((s) => s.attempts),
        fresh,
      );

      const settled =
        !ctx.carry || !chains
          ? [{ digests: [], gaps: [], files: slots, missing: [] }]
          : ctx.carry.settle(unit, slots, own, chains);
      await ctx.replay?.store(unit, slots, settled, ctx.carry, fileSlots.length);
      return { settled, fresh };
    },
  };
}

/** Whether hashFile takes the file's MD5 from its listed ETag (no request): the same test it makes. */
function etagIsHash(slot: Slot, chains: DigestChains): boolean {
  const etag = slot.object.etag?.toLowerCase();
  return etag !== undefined && MD5_HEX.test(etag) && chains.algorithmsFor(slot.object.key).length === 1;
}

/**
 * Calls `task` for indexes 0..count-1 in order, at most `concurrency` at a time. Hand-written rather than p-limit:
 * a few runners each take the next index, with no promise or closure a task. In a scan of thousands of small
 * files, p-limit's per-task machinery (four promises and a queue item each) showed up as a cost of its own.
 */
export async function eachLimited(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  /** Called once every index has been handed to a runner (at the end when there are none). */
  onDispatched?: () => void,
): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < count) {
      const index = next++;
      if (next === count) onDispatched?.();
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, runner));
  if (count === 0) onDispatched?.();
}
