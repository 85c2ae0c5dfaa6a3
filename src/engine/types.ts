import type { KeyObject } from "node:crypto";
import type { AllowList } from "../detect/AllowList.js";
import type { Alert, FileIntegrity } from "../detect/types.js";
import type { RulesConfig } from "../detect/RulesConfig.js";
import type { GeoLookup } from "../enrich/GeoLookup.js";
import type { DigestLimits, IntegrityFinding } from "../notify/buildDigest.js";
import type { AlertDigest, Notifier } from "../notify/types.js";
import type { DigestRecord, FileRecord, GapRecord, ReportWriter } from "../report/types.js";
import type { ObjectSource } from "../sources/types.js";
import type { Ledger } from "../state/types.js";
import type { ChainSummaries } from "../integrity/failClosed.js";
import type { DigestRead } from "../integrity/types.js";
import type { FileCounts } from "./RunTally.js";
import type { Slot } from "./scanObject.js";
import type { ShardRange } from "./shardContext.js";
import type { WindowCarry } from "./WindowCarry.js";

/** How strictly integrity is checked: `require` makes violations exit 3. */
export type VerifyMode = "off" | "warn" | "require";

/**
 * What the engine needs to know about a run, validated. The command line (`config.ts`) and the function
 * (`handler.ts`) each build it their own way; the engine never reads argv or the environment.
 */
export interface EngineOptions {
  command: "scan" | "verify";
  /** The global allowlist. */
  allowList: AllowList;
  /** Trace names to audit, case-insensitive. */
  events: string[];
  /** The detection rules' settings (`--rules`, `CTS_AUDIT_RULES`); DEFAULT_RULES when absent. */
  rules?: RulesConfig;
  /** The window on trace times (and, with a grace, on upload times). */
  since: Date | undefined;
  until: Date | undefined;
  verify: VerifyMode;
  /** CTS's digest public key. */
  publicKey: KeyObject;
  /** Objects in flight. */
  concurrency: number;
  /** Build the digest, send nothing, write no state. */
  dryRun: boolean;
  /** Decompressed bytes one object may expand to before it fails (decompression-bomb guard). */
  maxDecompressedBytes: number;
  /**
   * Country and network lookup for the alerts' addresses (DESIGN "Enrichment"); the report names its data.
   * Absent: alerts are not enriched.
   */
  geo?: GeoLookup;
}

/** Progress of a run, for a progress bar. Totals grow as the listing streams. */
export interface Progress {
  objectsDone: number;
  /** Objects listed so far that need work. */
  objectsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  alerts: number;
  /** The listing is complete: the totals are final. */
  listed: boolean;
}

/** Adapters the engine runs with. Entry points build them; tests pass real ones or in-memory ones. */
export interface RunDeps {
  /** One per `<source>`, in the order given. */
  sources: ObjectSource[];
  /** Where the alert digest goes; undefined for `--notify none`. */
  notifier?: Notifier;
  /** The ledger for dedupe and resume; undefined for a stateless run. */
  ledger?: Ledger;
  /** Where records go as units complete; without one, run() returns every record in its report. */
  report?: ReportWriter;
  /** Now, for the report's times and for when a digest is due. */
  clock?: () => Date;
  /** Size limits for the digest's parts (the notifier's). */
  digestLimits?: DigestLimits;
  /** Decompressed size up to which a trace file is parsed in one piece (fast path); larger ones stream. */
  bufferLimit?: number;
  /** Keeps a digest that could not be sent; returns where (a file path). */
  saveUnsent?: (digest: AlertDigest) => Promise<string>;
  /** Warnings for a person (stderr on the command line, the log in the function). */
  warn?: (message: string) => void;
  /** Called as objects complete. */
  onProgress?: (progress: Progress) => void;
  /**
   * Asked before each object starts: a reason stops the run from starting more (time running out in the
   * function, SIGINT/SIGTERM on the command line). What did not start is reported as skipped, with the reason.
   */
  shouldStop?: () => string | undefined;
  /** The exit code a signal asks for (130 for SIGINT, 143 for SIGTERM): the report then says it too. */
  signalExitCode?: () => 130 | 143 | undefined;
  /** How long to wait for another run's ledger lock. */
  ledgerWaitMs?: number;
  /**
   * The run is one shard of a fanned-out backfill (DESIGN "Organisation-size backfills"): what each chain verified
   * is collected into `summaries`, and the run-level fail-closed judgements (truncated chains, nothing verified)
   * are left to the reducer, which judges the merged summaries of every shard.
   */
  shard?: {
    summaries: ChainSummaries;
    /**
     * The shard's own keys when it is cut mid-series: the source then lists context units around them, read only
     * to settle the chains at the cuts (see `shardContext.ts`). Absent: every listed unit is the shard's.
     */
    own?: ShardRange;
    /** The windowed rules' carry to use (the worker's records the attempts for the reducer instead of alerting). */
    windows?: WindowCarry;
  };
  /**
   * Read the next unit's listing and digests while the current unit's files are read (default: for remote
   * sources, see `ObjectSource.remote`). False runs one unit after another: the reference the prefetching engine
   * is tested against.
   */
  prefetch?: boolean;
}

/** What a series (one region's units) hands to its next unit. Bounded by one unit, never by the run. */
export interface SeriesCarry {
  /** The previous unit's digests: context for links and coverage across midnight (their records are out). */
  reads: DigestRead[];
  /** Files whose verdict a later digest can still change (pending, or no digest covers them yet). */
  heldFiles: Slot[];
  /** Digest files whose status a newer digest can still change (unanchored: no metadata signature). */
  heldDigests: Array<{ slot: Slot; record: DigestRecord }>;
  /** Trace keys of the previous unit's last hours: digests of this unit list them. */
  recentKeys: Set<string>;
  /** Gap and missing-digest records already written, so that context digests do not repeat them. */
  written: Set<string>;
  /**
   * The held records are another fan-out shard's (this carry was primed from context units): they are judged and
   * written there, so this carry only keeps their keys as present (DESIGN "Organisation-size backfills").
   */
  foreign?: boolean;
}

/**
 * A replayed unit's files as its replay record keeps them (replayedSlots.ts): each record's report text, and what
 * the run reads of the files without parsing them.
 */
export interface ReplayedFiles {
  readonly size: number;
  /** The i-th file's key. */
  object(i: number): string;
  integrity(i: number): FileIntegrity;
  /** The i-th record's JSON text: exactly `JSON.stringify(record(i))`. */
  text(i: number): string;
  record(i: number): FileRecord;
  /** The i-th file's alerts inside the run's window, if it has any. */
  alerts(i: number): Alert[] | undefined;
  /** What the files count into the summary (the window cuts none of their times), and their findings. */
  readonly counts: FileCounts;
  readonly findings: readonly IntegrityFinding[];
  /** Files whose digest was overdue: the chain, and the file's key (see countSettled). */
  readonly overdue: ReadonlyArray<{ chain: string; object: string }>;
}

/** The records a unit (or the end of a series) settles, in the order they are written. */
export interface Settled {
  digests: DigestRecord[];
  gaps: GapRecord[];
  /** Files of the unit (and held files of the previous one) with their final verdicts. */
  files: Slot[];
  /** A replayed unit's files, written after `files` (which is then empty). */
  replayed?: ReplayedFiles;
  /** Files some digest lists that the source does not hold. */
  missing: FileRecord[];
}
