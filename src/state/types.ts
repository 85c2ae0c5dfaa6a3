import type { LocationBaseline } from "../detect/LocationBaseline.js";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import type { FileRecord } from "../report/types.js";

/** What a completed object produced, kept so a resumed or repeated run reports it without reading it again. */
export interface ObjectOutcome {
  /** ETag (OBS) or size and mtime (local) of the object when it was read: a changed object is read again. */
  fingerprint: string;
  /** The rules it was audited under (`AuditRules.id`): other rules read it again. */
  rules: string;
  record: FileRecord;
  /** Every alert, whatever the window; the run applies its own. */
  alerts: Alert[];
  matchedTimes: Array<number | null>;
  /**
   * Login attempts (issue 14), whatever the window, so a reused object still feeds the windowed rules. Kept
   * although `putAttempts` holds them too: that store answers time ranges (the windows across runs, the function's
   * narrow reads) and expires in days; this copy lives as long as the outcome (the state's retention), so a rerun
   * or resumed backfill that reuses the object weeks later still sees them. A reused object's attempts may come
   * from both; the windowed rules count an attempt once (by trace id).
   */
  attempts?: LoginAttempt[];
  hashes?: Record<string, string>;
  /** When it completed (ISO-8601), for expiry. */
  at: string;
}

/** A user's location baseline as stored, with when the ledger may drop it (epoch ms). */
export interface StoredBaseline {
  /** The user's group key (`LoginAttempt.userKey`). */
  userKey: string;
  baseline: LocationBaseline;
  /** Epoch ms after which the whole baseline may be dropped (its last login plus the rules' window). */
  expiresAt: number;
}

/**
 * A unit's settled output kept for replay (`UnitReplay`): a rerun that lists the unit exactly as the run that
 * stored it (the chained fingerprint) replays `body` instead of looking up, reading and verifying its objects.
 */
export interface StoredUnit {
  /** The unit's chained fingerprint: its listing, the rules and options, and the units before it in its series. */
  fingerprint: string;
  /** UnitReplay's encoding of the unit's records and chain carry; opaque to the ledger. */
  body: string;
  /** When it was stored (ISO-8601), for expiry. */
  at: string;
}

/** Who holds a ledger: written by the run that opens it, shown to a run that has to wait for it. */
export interface LedgerHolder {
  /** A unique id of the run. */
  run: string;
  pid: number;
  host: string;
  /** ISO-8601. */
  startedAt: string;
  /** What the run is, for a person (`scan ./archive`). */
  command: string;
}

/** How a run opens the ledger. */
export interface LedgerOpenOptions {
  holder: LedgerHolder;
  /** Read only (a dry run): no lock is taken, nothing is created or written. */
  readOnly?: boolean;
  /** How long to wait for another run's lock before giving up with a LedgerBusyError. */
  lockWaitMs?: number;
}

/**
 * The ledger that makes runs idempotent (DESIGN "State and idempotency"): completed objects (key + fingerprint,
 * with their outcome), alert keys sent **per sink** with the message that carried them, and alerts found but not
 * yet sent to a sink. Lookups and writes are per unit of work (one region-day folder), never of the whole ledger.
 *
 * Errors: `open` throws `LedgerBusyError` (code `STATE_BUSY`, exit 2) when another run holds the ledger past
 * `lockWaitMs`, and `LedgerUnreadableError` (code `STATE_UNREADABLE`) when the ledger exists but cannot be read;
 * every other failure is a `CtsAuditError` with code `STATE` naming the ledger's location.
 */
export interface Ledger {
  /** Where it is, for the report (`./ledger`, `obs://bucket/prefix/`). */
  readonly location: string;
  /** Opens (or creates) the ledger and takes the writer lock unless read only. */
  open(options: LedgerOpenOptions): Promise<void>;
  /**
   * Outcomes of completed objects of one unit whose fingerprint still matches, by object key.
   * @param unit the unit's id (`CloudTraces/<region>/<yyyy>/<mm>/<dd>` or another stable folder id)
   */
  getObjects(
    unit: string,
    items: ReadonlyArray<{ key: string; fingerprint: string }>,
  ): Promise<Map<string, ObjectOutcome>>;
  /** Records completed objects of one unit: atomically (all or none) and durably when it returns. */
  putObjects(
    unit: string,
    outcomes: ReadonlyArray<readonly [key: string, outcome: ObjectOutcome]>,
  ): Promise<void>;
  /**
   * The replay record of a unit (the last one `putUnit` stored under this id), or undefined. The caller compares
   * its fingerprint: the ledger only keeps it.
   * @param unit the unit's id (a unit cut in parts: `<id>#<part>`)
   */
  getUnit(unit: string): Promise<StoredUnit | undefined>;
  /** Keeps a unit's replay record, replacing the one stored before under the id; durable when it returns. */
  putUnit(unit: string, stored: StoredUnit): Promise<void>;
  /** Which of these alert keys were already sent to `sink` (`stdout`, `smn`, `file:/path`). */
  sent(sink: string, keys: readonly string[]): Promise<Set<string>>;
  /** Records alert keys as sent to `sink`, with the message that carried them. */
  markSent(sink: string, keys: readonly string[], messageId: string): Promise<void>;
  /** Alerts found by any run and not yet sent to `sink`. */
  pending(sink: string): Promise<Alert[]>;
  /** Keeps alerts that could not be sent to `sink`; adds to what is there, never replaces another run's. */
  addPending(sink: string, alerts: readonly Alert[]): Promise<void>;
  /** Removes pending alerts of `sink` by alert key (`alertKey(alert)`), once they are sent. */
  removePending(sink: string, keys: readonly string[]): Promise<void>;
  /**
   * Keeps login attempts for the windowed rules of later runs (a spray that straddles two nightly runs), by
   * `scope` (a series: `<lead>CloudTraces/<region>`) and time. They expire some time after they are written
   * (longer than the longest window plus the time between runs); a duplicate (same trace) is harmless.
   */
  putAttempts(scope: string, attempts: readonly LoginAttempt[]): Promise<void>;
  /** The attempts of `scope` kept with a time in `[from, to)` (epoch ms), in no particular order. */
  attempts(scope: string, from: number, to: number): Promise<LoginAttempt[]>;
  /**
   * Per-user location baselines (`new-country`/`new-asn`, issue 15) of these users, by user key; a user without
   * one (or whose baseline expired) is absent. Looked up per user, never a listing of every user. Optional so that
   * other adapters keep compiling; the two ledgers implement it.
   */
  getBaselines?(userKeys: readonly string[]): Promise<Map<string, LocationBaseline>>;
  /**
   * True while this run holds the ledger's writer lock: no other run writes to it, so what this run wrote is what
   * it holds (the OBS ledger has no lock: concurrent invocations write to it).
   */
  readonly exclusive?: boolean;
  /** Stores baselines (replacing each user's), durably when it returns; dropped after their `expiresAt`. */
  putBaselines?(baselines: readonly StoredBaseline[]): Promise<void>;
  /** Drops expired entries, makes everything durable and releases the lock. Safe to call twice. */
  close(): Promise<void>;
}
