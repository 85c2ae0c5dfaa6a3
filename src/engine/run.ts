import { AuditRules } from "../detect/AuditRules.js";
import { ByteBudget } from "../parse/ByteBudget.js";
import { TimeWindow } from "../detect/TimeWindow.js";
import type { Report } from "../report/types.js";
import { parseObsUrl } from "../sources/obsUrl.js";
import type { ObjectSource } from "../sources/types.js";
import { nothingVerified, truncatedChains, type ChainSummaries } from "../integrity/failClosed.js";
import { ChainCarry, type Settled } from "./ChainCarry.js";
import { writeSettled } from "./writeSettled.js";
import { LedgerPolicy } from "./LedgerPolicy.js";
import { inWindow, UPLOAD_GRACE_MS } from "./plan.js";
import { progressTracker, type ProgressTracker } from "./progress.js";
import { RunTally } from "./RunTally.js";
import { prefetchUnits } from "./prefetchUnits.js";
import {
  prepareUnit,
  readUnit,
  scanUnit,
  type UnitContext,
  type UnitOutcome,
  type UnitReading,
} from "./scanUnit.js";
import type { EngineOptions, RunDeps } from "./types.js";
import { startRun } from "./startRun.js";
import { finishRun } from "./finishRun.js";
import { units, type Unit } from "./units.js";
import { UnitReplay } from "./UnitReplay.js";
import { WindowCarry } from "./WindowCarry.js";
import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import { newLocations } from "./newLocations.js";
import { contextUnit, quiet, unitRole } from "./shardContext.js";

const DEFAULT_BUFFER_LIMIT = 8 * 1024 * 1024;

/**
 * The engine (DESIGN "Architecture"): for each source, its sorted listing is cut into units (one region-day);
 * each unit is scanned (digests, trace files, ledger) and settled (verdicts across midnight), and its records go
 * to the report writer as it completes; then alerts are delivered as one digest. Memory holds one unit, the
 * alerts and the integrity findings, whatever the number of objects. Per-object failures are data in the report;
 * it throws only when a source cannot be listed or another run holds the ledger.
 */
export async function run(options: EngineOptions, deps: RunDeps): Promise<Report> {
  const started = await startRun(
    options,
    deps,
    deps.sources.map((s) => s.name),
    `${options.command} ${deps.sources.map((s) => s.name).join(" ")}`,
  );
  const { clock, startedAt, rules, collector, writer, tally, errors, ledger, header } = started;
  const window = new TimeWindow(options.since, options.until);
  try {
    await writer.begin(header);
    const progress = progressTracker(deps.onProgress);

    const write = (settled: Settled, windows: WindowCarry | undefined) =>
      writeSettled(settled, writer, tally, windows);

    const summaries: ChainSummaries = deps.shard?.summaries ?? new Map();
    const locations = newLocations(options, ledger);
    for (const source of deps.sources) {
      const ctx = unitContext(options, source, {
        rules,
        window,
        ledger,
        deps,
        progress,
        tally,
        startedAt,
        summaries,
        clock,
      });
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
            for (const settled of await contextUnit(role, unit, ctx, prepared))
              await write(settled, ctx.windows);
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
    // A fan-out shard sees part of the run: its reducer judges the merged summaries instead.
    if (options.verify !== "off" && !deps.shard) {
      // Fail closed (DESIGN "Integrity"): chains cut short, and a run that verified nothing, judged over the run.
      const partial = deps.sources.every((s) => s.partial);
      const none = nothingVerified(summaries, { partial, since: options.since, until: options.until });
      for (const g of [...truncatedChains(summaries, { partial }), ...(none ? [none] : [])]) {
        tally.gap(g);
        await writer.gap(g);
      }
    }
    progress.finish();

    return await finishRun({ options, deps, header, tally, ledger, writer, collector, errors, clock });
  } finally {
    await ledger.close();
  }
}

function unitContext(
  options: EngineOptions,
  source: ObjectSource,
  shared: {
    rules: AuditRules;
    window: TimeWindow;
    ledger: LedgerPolicy;
    deps: RunDeps;
    progress: ProgressTracker;
    tally: RunTally;
    startedAt: Date;
    summaries: ChainSummaries;
    clock: () => Date;
  },
): UnitContext {
  const { deps, progress, tally } = shared;
  const prefix = parseObsUrl(source.name)?.prefix ?? "";
  const carry =
    options.verify === "off"
      ? undefined
      : new ChainCarry(
          options.publicKey,
          (key, time) => key.startsWith(prefix) && inWindow(options, time, UPLOAD_GRACE_MS),
          source.partial === true,
          { now: shared.startedAt, bucket: source.bucket },
          shared.summaries,
        );
  return {
    options,
    source,
    ...(options.command === "scan"
      ? {
          windows:
            deps.shard?.windows ??
            new WindowCarry(
              (options.rules ?? DEFAULT_RULES).rules,
              shared.ledger.usable ? shared.ledger : undefined,
              // The function's listing is one object: its windows read the ledger around it, not its whole day.
              { narrow: source.partial === true },
            ),
        }
      : {}),
    rules: shared.rules,
    window: shared.window,
    ledger: shared.ledger,
    carry,
    bufferLimit: deps.bufferLimit ?? DEFAULT_BUFFER_LIMIT,
    ...(deps.warn ? { warn: deps.warn } : {}),
    ...(deps.shouldStop ? { shouldStop: deps.shouldStop } : {}),
    listed: progress.listed,
    completed: progress.completed,
    reused: () => tally.summary.reused++,
    // One unit's files and the next one's digests share `concurrency` slots: objects in flight stay as asked. A
    // source read one unit after another needs none (and its small files no wait for one).
    ...((deps.prefetch ?? source.remote === true) ? { requests: new ByteBudget(options.concurrency) } : {}),
    // The function's listing is one object: there is no unit to replay. With verification off there are no
    // digests to read again or chains to verify: reusing objects one by one is already what a replay would save.
    ...(shared.ledger.usable && source.partial !== true && options.verify !== "off"
      ? {
          replay: new UnitReplay(
            shared.ledger,
            shared.rules.id,
            options,
            source,
            shared.window,
            shared.startedAt,
            shared.clock,
          ),
        }
      : {}),
  };
}
