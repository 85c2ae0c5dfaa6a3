import type { Settled } from "./ChainCarry.js";
import { prepareUnit, type PreparedUnit } from "./prepareUnit.js";
import type { UnitContext } from "./unitContext.js";
import type { Unit } from "./units.js";
import { CtsAuditError } from "../errors.js";
import { ShardChainCarry } from "./ShardChainCarry.js";

/**
 * A fan-out shard's own part of its listing (DESIGN "Organisation-size backfills"): keys after `after` up to
 * `last`. A shard that starts or ends mid-series lists a little more, as context: the units before `after`
 * ("lead") and the unit after `last` ("trail"). Cuts are between units, so a unit is wholly one or the other.
 */
export interface ShardRange {
  after?: string;
  last?: string;
}

/** Whether a unit is the shard's own, context before it, or the read-ahead after it. */
export function unitRole(unit: Unit, own: ShardRange | undefined): "own" | "lead" | "trail" {
  const first = unit.objects[0]?.object.key;
  if (!own || first === undefined) return "own";
  if (own.after !== undefined && first <= own.after) return "lead";
  if (own.last !== undefined && first > own.last) return "trail";
  return "own";
}

/**
 * A context unit of a fan-out shard. Its digests are read (`prepareUnit`, not counted as progress); its trace
 * files are planned but not read, because only their keys and whether a digest lists them matter to the carry.
 * Nothing of it is reported or tallied, and it touches neither the ledger nor the windowed rules.
 * - lead: primes the chain carry, so that the shard's first unit is settled as in one run;
 * - trail: judges the held records of the shard's last unit with the next unit's digests (see ChainCarry).
 * Returns the records it settles (the trail's held records, which are the shard's own), to be written.
 */
export async function contextUnit(
  role: "lead" | "trail",
  unit: Unit,
  ctx: UnitContext,
  /** The unit prepared ahead (with {@link quiet} context); else prepared here. */
  prepared?: Promise<PreparedUnit>,
): Promise<Settled[]> {
  const { slots, reads } = await (prepared ?? prepareUnit(unit, quiet(ctx)));
  if (!ctx.carry) return [];
  // unitContext gives a shard cut mid-series (the only run with context units) a ShardChainCarry.
  if (!(ctx.carry instanceof ShardChainCarry))
    throw new CtsAuditError("INTERNAL", `context unit ${unit.id} of a run that is no shard cut mid-series`);
  return role === "lead" ? ctx.carry.prime(unit, slots, reads) : ctx.carry.settleHeld(unit, reads);
}

/** The context's objects are no work of this shard: they do not count as listed or completed. */
export function quiet(ctx: UnitContext): UnitContext {
  return { ...ctx, listed: () => undefined, completed: () => undefined };
}
