import type { AuditRules } from "../detect/AuditRules.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import { readDigest } from "../integrity/readDigest.js";
import type { ByteBudget } from "../parse/ByteBudget.js";
import type { DigestChains } from "../integrity/DigestChains.js";
import type { DigestRead } from "../integrity/types.js";
import type { ObjectSource } from "../sources/types.js";
import type { ChainCarry, Settled } from "./ChainCarry.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { planObject, type Plan } from "./plan.js";
import { hashFile, MD5_HEX, scanFile, type Slot } from "./scanObject.js";
import type { EngineOptions } from "./types.js";
import type { Unit } from "./units.js";

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
}

/** A unit's outcome: its records settled so far, in the order they are written. */
export interface UnitOutcome {
  settled: Settled[];
}

function slotOf(item: Unit["objects"][number], plan: Plan): Slot {
  const { object, key } = item;
  return {
    object,
    key,
    allAlerts: [],
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
  const { options } = ctx;
  const { slots, plans, fileSlots, reads } = await (prepared ?? prepareUnit(unit, ctx));

  const stored = await ctx.ledger.lookup(unit.id, fileSlots);
  const chains = ctx.carry?.chainsFor(unit, reads);

  const scanCtx = {
    source: ctx.source,
    chains,
    rules: ctx.rules,
    options,
    bufferLimit: ctx.bufferLimit,
    ...(ctx.warn ? { warn: ctx.warn } : {}),
  };
  // Completed objects are recorded in batches while the unit runs, so that a crash mid-unit keeps what was done
  // (a day folder can take minutes); one batch is one ledger transaction.
  let batch: Slot[] = [];
  let lastRecord = Date.now();
  let recording: Promise<void> = Promise.resolve();
  const recordBatch = () => {
    const slots = batch;
    batch = [];
    lastRecord = Date.now();
    recording = recording.then(() => ctx.ledger.record(unit.id, slots));
    return recording;
  };
  await eachLimited(fileSlots.length, options.concurrency, async (i) => {
    const slot = fileSlots[i]!;
    const stop = ctx.shouldStop?.();
    if (stop) {
      slot.record.status = "skipped";
      slot.record.reason = `not started: ${stop}`;
      return;
    }
    const kept = stored.get(slot.object.key);
    if (kept) {
      // Done by an earlier run under the same rules: its outcome stands, the object is not read again.
      slot.record = { ...kept.record };
      slot.allAlerts = kept.alerts.map((a) => ({ ...a }));
      slot.matchedTimes = kept.matchedTimes;
      if (kept.hashes) slot.hashes = kept.hashes;
      ctx.reused();
    } else {
      if (plans.get(slot)!.action === "parse") await gated(ctx.requests, () => scanFile(slot, scanCtx));
      else if (chains && !slot.object.explicit) {
        // Hashed from the listing's ETag (no read) unless the digest asks for another algorithm.
        const download = !etagIsHash(slot, chains);
        await (download
          ? gated(ctx.requests, () => hashFile(slot, { ...scanCtx, chains }))
          : hashFile(slot, { ...scanCtx, chains }));
      } else slot.record.status = "skipped";
      batch.push(slot);
    }
    // The window applies to trace times, here, so that stored outcomes serve any window.
    slot.alerts = slot.allAlerts.filter((a) => ctx.window.contains(a.time ? Date.parse(a.time) : undefined));
    if (plans.get(slot)!.action === "parse")
      slot.record.matched = slot.matchedTimes.filter((t) => ctx.window.contains(t ?? undefined)).length;
    ctx.completed(slot);
    if (batch.length >= RECORD_BATCH || Date.now() - lastRecord >= RECORD_INTERVAL_MS) await recordBatch();
  });
  await recordBatch();

  if (!ctx.carry || !chains) return { settled: [{ digests: [], gaps: [], files: slots, missing: [] }] };
  return { settled: ctx.carry.settle(unit, slots, reads, chains) };
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
): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, runner));
}
