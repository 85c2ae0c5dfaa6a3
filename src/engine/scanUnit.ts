import { CtsAuditError } from "../errors.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { DigestChains } from "../integrity/DigestChains.js";
import type { DigestRead } from "../integrity/types.js";
import type { Settled } from "./ChainCarry.js";
import { hashFile, MD5_HEX, scanFile, type Slot } from "./scanObject.js";
import type { Unit } from "./units.js";
import { eachLimited } from "./eachLimited.js";
import { gated, prepareUnit, type PreparedUnit } from "./prepareUnit.js";
import type { UnitContext } from "./unitContext.js";

// A transaction is flushed to disk when it commits: batches of thousands keep that a small cost per object.
const RECORD_BATCH = 10_000;
const RECORD_INTERVAL_MS = 1000;

/** A unit's outcome: its records settled so far, in the order they are written. */
export interface UnitOutcome {
  settled: Settled[];
  /** The login attempts of objects read in this run (not reused from the ledger), for the per-user baselines. */
  fresh: LoginAttempt[];
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
      if (plans.get(slot)!.action === "parse") slot.record.matched = ctx.window.count(slot.matchedTimes);
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
