import { readDigest } from "../integrity/readDigest.js";
import type { DigestRead } from "../integrity/types.js";
import type { ByteBudget } from "../parse/ByteBudget.js";
import { eachLimited } from "./eachLimited.js";
import { planObject, type Plan } from "./plan.js";
import type { Slot } from "./scanObject.js";
import type { UnitContext } from "./unitContext.js";
import type { Unit } from "./units.js";

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
export async function gated<T>(requests: ByteBudget | undefined, task: () => Promise<T>): Promise<T> {
  if (!requests) return task();
  if (!requests.tryAcquire(1)) await requests.acquire(1);
  try {
    return await task();
  } finally {
    requests.release(1);
  }
}
