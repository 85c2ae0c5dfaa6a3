import type { AuditRules } from "../detect/AuditRules.js";
import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import type { TimeWindow } from "../detect/TimeWindow.js";
import type { ChainSummaries } from "../integrity/failClosed.js";
import { ByteBudget } from "../parse/ByteBudget.js";
import { parseObsUrl } from "../sources/obsUrl.js";
import type { ObjectSource } from "../sources/types.js";
import { ChainCarry } from "./ChainCarry.js";
import { ShardChainCarry } from "./ShardChainCarry.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { inWindow, UPLOAD_GRACE_MS } from "./plan.js";
import type { ProgressTracker } from "./progress.js";
import type { RunTally } from "./RunTally.js";
import type { Slot } from "./scanObject.js";
import type { EngineOptions, RunDeps } from "./types.js";
import { UnitReplay } from "./UnitReplay.js";
import { WindowCarry } from "./WindowCarry.js";

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

const DEFAULT_BUFFER_LIMIT = 8 * 1024 * 1024;

/**
 * What every unit of one source is scanned with: the source's chain carry (none with verification off), the
 * windowed rules' carry (scan only), the ledger and its replay, the shared request slots when reading ahead.
 */
export function unitContext(
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
      : new (deps.shard?.own ? ShardChainCarry : ChainCarry)(
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
            deps.report?.fileText !== undefined,
          ),
        }
      : {}),
  };
}
