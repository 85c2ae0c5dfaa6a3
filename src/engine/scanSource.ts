import type { Settled } from "./ChainCarry.js";
import type { newLocations } from "./newLocations.js";
import { prefetchUnits } from "./prefetchUnits.js";
import type { RunTally } from "./RunTally.js";
import { prepareUnit } from "./prepareUnit.js";
import { readUnit, scanUnit, type UnitOutcome, type UnitReading } from "./scanUnit.js";
import type { UnitContext } from "./unitContext.js";
import { contextUnit, quiet, unitRole } from "./shardContext.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import type { ObjectSource } from "../sources/types.js";
import type { RunDeps } from "./types.js";
import { units, type Unit } from "./units.js";
import type { WindowCarry } from "./WindowCarry.js";

/**
 * One source through the engine: its sorted listing cut into units, each scanned (or replayed, or read as a fan-out
 * shard's context) and settled in listing order, its records written as they settle; then the source's series
 * are finished and its windowed alerts counted. Reading ahead (remote sources), the next unit's listing and
 * digests are read while this unit's files are, and its files start once this unit has handed out its last one.
 */
export async function scanSource(
  source: ObjectSource,
  ctx: UnitContext,
  run: {
    deps: RunDeps;
    write: (settled: Settled, windows: WindowCarry | undefined) => Promise<void>;
    locations: ReturnType<typeof newLocations>;
    window: TimeWindow;
    tally: RunTally;
  },
): Promise<void> {
  const { deps, write, locations, window, tally } = run;
  // The next unit's listing and digests while this unit's files are read; units settle in listing order.
  const listing = units(source.pages());
  const ahead = deps.prefetch ?? source.remote === true;
  // A fan-out shard cut mid-series lists context units around its own: they settle nothing of their own.
  const own = deps.shard?.own;
  const prepare = (u: Unit) => prepareUnit(u, unitRole(u, own) === "own" ? ctx : quiet(ctx));
  const finish = async (outcome: UnitOutcome) => {
    for (const settled of outcome.settled) await write(settled, ctx.windows);
    // Logins of objects reused from the ledger are in the baselines already.
    if (locations)
      tally.alerts(
        (await locations(outcome.fresh)).filter((a) =>
          window.contains(a.time ? Date.parse(a.time) : undefined),
        ),
      );
  };
  // Reading ahead, a unit's files start once the previous unit has handed out its last file, and it settles
  // after that one: the slots its tail and its settling would leave idle carry the next unit's requests. Not
  // with a replay (it must see the previous unit settled before it decides) or a shard's context units.
  const pipelined = ahead && !ctx.replay && !own;
  let pending: { unit: Unit; reading: UnitReading; done: Promise<void>; settled: () => void } | undefined;
  const settlePending = async () => {
    const p = pending!;
    pending = undefined;
    await finish(await p.reading.settle());
    // Only once it is written: after a failure the next unit's ledger batches are never written.
    p.settled();
  };
  try {
    for await (const { unit, prepared } of prefetchUnits(listing, prepare, ahead)) {
      const role = unitRole(unit, own);
      if (role !== "own") {
        for (const settled of await contextUnit(role, unit, ctx, prepared)) await write(settled, ctx.windows);
        continue;
      }
      if (!pipelined) {
        await finish(await scanUnit(unit, ctx, prepared));
        continue;
      }
      const previous = pending;
      if (previous) await previous.reading.dispatched;
      const reading = readUnit(
        unit,
        ctx,
        prepared,
        previous
          ? { previous: { unit: previous.unit, reads: previous.reading.reads }, settled: previous.done }
          : undefined,
      );
      if (previous) await settlePending();
      let settled!: () => void;
      const done = new Promise<void>((resolve) => (settled = resolve));
      pending = { unit, reading, done, settled };
    }
  } catch (err) {
    // A listing that fails after a unit was read: that unit is settled and written first, as it was when
    // units were read one after another (the listing's error surfaced only when the next unit was asked for).
    if (pending) await settlePending();
    throw err;
  }
  if (pending) await settlePending();
  for (const settled of ctx.carry?.finishAll() ?? []) await write(settled, ctx.windows);
  if (ctx.windows) {
    // Windowed alerts are whole only once the source's last unit settled; the run's window applies to the
    // trace that completed each pattern (the attempts before it were context).
    const found = ctx.windows.finishAll().filter((a) => window.contains(Date.parse(a.time)));
    tally.alerts(found);
    const { dropped, late } = ctx.windows.counters;
    if (dropped + late > 0)
      deps.warn?.(
        `windowed rules of ${source.name}: ${dropped} login attempt(s) beyond the per-group cap and ` +
          `${late} that arrived later than the slack were not counted`,
      );
  }
}
