import { randomUUID } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import { copyFile, link, open as openFile, readFile, rename, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { open as openLmdb, type Database, type RootDatabase } from "lmdb";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { isLocationBaseline, type LocationBaseline } from "../detect/LocationBaseline.js";
import type { Alert } from "../detect/types.js";
import { CtsAuditError, describeError, LedgerBusyError, LedgerUnreadableError } from "../errors.js";
import { distinctAttempts } from "./distinctAttempts.js";
import { alertKey } from "./alertKey.js";
import type {
  Ledger,
  LedgerHolder,
  LedgerOpenOptions,
  ObjectOutcome,
  StoredBaseline,
  StoredUnit,
} from "./types.js";

/** Options of a {@link LocalLedger}. */
export interface LocalLedgerOptions {
  /** Objects and sent alert keys older than this are dropped when the ledger is closed. */
  retentionMs: number;
  /**
   * Login attempts (windowed rules) are dropped this long after they were written (default 3 days): longer than
   * the longest window plus the time between two runs (a nightly schedule that misses a night still joins up).
   */
  attemptRetentionMs?: number;
  /** The time, for tests. */
  clock?: () => Date;
}

/** The ledger's own format version (the old whole-file JSON ledger was version 1). */
const FORMAT = 2;
const DEFAULT_LOCK_WAIT_MS = 10_000;
const LOCK_POLL_MS = 100;
/** Expired entries are deleted in transactions of at most this many, so that closing never holds one huge one. */
const SWEEP_BATCH = 10_000;
const HOUR_MS = 60 * 60 * 1000;
// Named databases an environment may open: thirteen are in use (meta, object-batches, objects, sent, pending, expiry,
// attempts, unit-replays, three imported from the JSON ledger, baselines and their expiry), with room for more.
const MAX_DBS = 16;
/** Tries of {@link LocalLedger.openChecked} (waits of 50, 100, 200 and 400 ms between them). */
const OPEN_ATTEMPTS = 5;
/**
 * The sub-databases every cts-audit ledger has had since its first LMDB version (the others may be absent: the
 * object batches among them, which a read-only open of a ledger written before them does without).
 */
const REQUIRED_STORES = [
  "meta",
  "objects",
  "sent",
  "pending",
  "expiry",
  "legacyObjects",
  "legacySent",
  "legacyPending",
] as const;

/** The `meta` key saying the ledger has its object batches' database (written with the writer lock). */
const HAS_BATCHES = "object-batches";

/** What the `meta` database holds under `format`. */
interface FormatRecord {
  version: number;
  createdAt: string;
  /** Where the old JSON ledger was moved when it was imported. */
  importedFrom?: string;
}

/** The writer lock's record: the holder as the port names it, and what tells a dead holder on this host. */
interface HolderRecord extends LedgerHolder {
  /** Linux: the kernel's boot id and the process's start time, so that a reused pid is not taken for the holder. */
  boot?: string;
  procStart?: string;
}

interface SentRecord {
  messageId: string;
  at: string;
}

/** Expiry index kinds: the index key is `[atMs, kind, ...the entry's key]`. */
// "B": one batch of a unit's objects ([unit, its sequence number as a string]); "U": one entry for a batch of a
// unit's per-key objects ([unit, uuid]), "u": the same, listing the batch's keys, and "o": one object (these three
// from ledgers written before batches); "s": a sent key; "l"/"L": imported from the JSON ledger; "A": a batch of
// login attempts ([scope, uuid], its value lists the [hour, id] of each hour's entry); "a": one login attempt
// ([scope, time, key], ledgers written before hours); "n": a unit's replay record ([unit, uuid]).
type ExpiryKind = "B" | "U" | "u" | "o" | "s" | "l" | "L" | "a" | "A" | "n";

/** Default of {@link LocalLedgerOptions.attemptRetentionMs}. */
export const DEFAULT_ATTEMPT_RETENTION_MS = 3 * 24 * 60 * 60 * 1000;

/** The old whole-file JSON ledger (FileStateStore). */
interface LedgerV1 {
  version: 1;
  objects: Record<string, ObjectOutcome>;
  alerted: Record<string, SentRecord>;
  pending: Alert[];
}

/** In memory, for a dry run over an old JSON ledger that must not be imported (nothing is written). */
interface V1View {
  objects: Map<string, ObjectOutcome>;
  sent: Set<string>;
  pending: Alert[];
}

/** An outcome as a batch keeps it: without the fields the batch holds once for all of its outcomes. */
type BatchedOutcome = Omit<ObjectOutcome, "rules" | "at">;

/**
 * One `putObjects` call's objects of one unit that share `rules` and `at` (a call whose outcomes differ in them is
 * written as one batch per distinct pair): `keys[i]` is the object key of `outcomes[i]`.
 */
interface ObjectBatch {
  rules: string;
  at: string;
  keys: string[];
  outcomes: BatchedOutcome[];
}

interface Stores {
  env: RootDatabase;
  meta: Database<unknown, string>;
  /**
   * Completed objects, one value per batch written: `[unit, sequence]` → {@link ObjectBatch}, the sequence counting
   * up per unit, so a unit's batches are one range in write order and a key written twice is newest last. One value
   * a batch, not an entry an object: in a first run over 100,000 objects the writes took 0.93 s of CPU as a put an
   * object (lmdb-js's write instructions and a msgpack record each) and 0.54 s as a value a batch, most of it the
   * packing every format pays (JSON was no cheaper). Absent when a ledger written before batches is opened read
   * only (a writable open creates it).
   */
  batches: Database<ObjectBatch, [string, number]> | undefined;
  /**
   * Completed objects as ledgers written before batches kept them, one entry an object (`[unit, object key]`):
   * read after the batches (which are newer) and swept, never written again.
   */
  objects: Database<ObjectOutcome, [string, string]>;
  sent: Database<SentRecord, [string, string]>;
  /** A pending alert, or null: "removed for this sink" for an alert imported pending for every sink. */
  pending: Database<Alert | null, [string, string]>;
  expiry: Database<true | string[] | Array<[number, string]>, [number, ExpiryKind, ...string[]]>;
  /**
   * Login attempts of the windowed rules: `[scope, hour, id]` → the attempts of that hour one write kept (ledgers
   * written before: `[scope, time, attempt key]` → one attempt), so a time range is one cursor. Absent when
   * a ledger written before they were kept is opened read only (a writable open creates it).
   */
  attempts: Database<LoginAttempt | LoginAttempt[], [string, number, string]> | undefined;
  /**
   * Units' replay records (UnitReplay), by unit id: one each, replaced when the unit is stored again. Raw bytes
   * (`fingerprint \n at \n body`): a body is megabytes of text, which Buffer decodes natively and msgpack in script.
   * LZ4-compressed by lmdb (about 8x on these bodies: a million objects' bodies are 1.5 GB raw, and a rerun maps
   * every page it reads into the process); the cost is about 1.5 µs an object to write, and reads get cheaper.
   * Named `unit-replays`: the uncompressed `units` of ledgers written before is left unread (its records were a
   * cache; their units are scanned and stored again once).
   */
  units: Database<Buffer, string>;
  /** Imported from the old ledger, which did not record units or sinks: object key → outcome. */
  legacyObjects: Database<ObjectOutcome, string>;
  /** Imported alert keys, sent to every sink: alert key → record. */
  legacySent: Database<SentRecord, string>;
  /** Imported pending alerts, pending for every sink until that sink removes them. */
  legacyPending: Database<Alert, string>;
  /** Location baselines by user key, and their expiry index `[expiresAtMs, user key]` (opened on first use). */
  baselines?: BaselineStores | null;
}

interface BaselineStores {
  baselines: Database<StoredBaseline, string>;
  expiry: Database<true, [number, string]>;
}

/**
 * The local ledger: one embedded LMDB database at the path the user names (plus LMDB's `<path>-lock` beside it).
 * A unit's completed objects are one value per `putObjects` call, keyed `[unit, sequence]` (entries `[unit, object
 * key]` of ledgers written before are still read), sent alert keys and pending alerts are keyed by `[sink, alert
 * key]`, so every lookup and write touches only what a unit or a digest needs; each `putObjects`/`markSent`/
 * `addPending` is one transaction, durable (flushed) when it returns. Retention deletes a range of an index ordered
 * by time, so a close reads only what expired.
 *
 * LMDB was chosen over SQLite (better-sqlite3) by measurement (bench/ledger-candidates.mjs): its prebuilt binaries
 * ship inside npm packages for Node 20 and 22 alike (better-sqlite3 builds from source, for one Node ABI only), and
 * its transactions work across processes, which the writer lock below is built on.
 */
export class LocalLedger implements Ledger {
  private readonly retentionMs: number;
  private readonly attemptRetentionMs: number;
  private readonly clock: () => Date;
  private stores: Stores | undefined;
  private v1: V1View | undefined;
  private holder: HolderRecord | undefined;
  private readOnly = false;
  private opened = false;
  private closed = false;
  private hasLegacy = false;

  /**
   * @param file the ledger's path (`--state`); an old JSON ledger there is imported on the first writable open
   */
  constructor(
    private readonly file: string,
    options: LocalLedgerOptions,
  ) {
    this.retentionMs = options.retentionMs;
    this.attemptRetentionMs = options.attemptRetentionMs ?? DEFAULT_ATTEMPT_RETENTION_MS;
    this.clock = options.clock ?? (() => new Date());
  }

  get location(): string {
    return this.file;
  }

  async open(options: LedgerOpenOptions): Promise<void> {
    if (this.opened) throw this.stateError("is already open", undefined);
    this.readOnly = options.readOnly === true;
    const lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
    const deadline = Date.now() + lockWaitMs;
    for (;;) {
      const kind = await this.inspect();
      if (kind === "missing") {
        if (this.readOnly) break; // a dry run on no ledger: empty, and nothing is created
        await this.create();
        continue;
      }
      if (kind === "json") {
        const v1 = await this.readV1();
        if (this.readOnly) {
          this.v1 = {
            objects: new Map(Object.entries(v1.objects)),
            sent: new Set(Object.keys(v1.alerted)),
            pending: v1.pending,
          };
          break;
        }
        await this.importV1(options.holder, deadline);
        continue;
      }
      this.stores = await this.openChecked();
      try {
        if (!this.readOnly) await this.lock(options.holder, deadline, lockWaitMs);
      } catch (err) {
        await this.stores.env.close().catch(() => undefined);
        this.stores = undefined;
        throw err;
      }
      this.hasLegacy =
        this.stores.legacyObjects.getCount({ limit: 1 }) > 0 ||
        this.stores.legacySent.getCount({ limit: 1 }) > 0 ||
        this.stores.legacyPending.getCount({ limit: 1 }) > 0;
      break;
    }
    this.opened = true;
  }

  async getObjects(
    unit: string,
    items: ReadonlyArray<{ key: string; fingerprint: string }>,
  ): Promise<Map<string, ObjectOutcome>> {
    this.assertOpen();
    const found = new Map<string, ObjectOutcome>();
    const s = this.stores;
    return this.read(`looking up objects of unit ${unit}`, () => {
      if (!s) {
        for (const { key, fingerprint } of items) {
          const outcome = this.v1?.objects.get(key);
          if (outcome && outcome.fingerprint === fingerprint) found.set(key, outcome);
        }
        return found;
      }
      // The newest outcome of each key asked for: the unit's batches newest first, until every key has one.
      const newest = s.batches ? newestInBatches(s.batches, unit, items) : new Map<string, ObjectOutcome>();
      const rest = newest.size === 0 ? items : items.filter((item) => !newest.has(item.key));
      // Then entries of ledgers written before batches. Many keys of a unit: one pass of a cursor over the unit's
      // entries (they sit together, sorted) costs less than a lookup a key, and a rerun asks for every object.
      let inUnit: Map<string, ObjectOutcome> | undefined;
      if (rest.length > RANGE_LOOKUP_MIN) {
        inUnit = new Map();
        for (const { key, value } of s.objects.getRange(unitRange(unit)))
          inUnit.set((key as [string, string])[1], value);
      }
      for (const { key, fingerprint } of items) {
        const outcome =
          newest.get(key) ??
          (inUnit ? inUnit.get(key) : s.objects.get([unit, key])) ??
          (this.hasLegacy ? s.legacyObjects.get(key) : undefined);
        if (outcome && outcome.fingerprint === fingerprint) found.set(key, outcome);
      }
      return found;
    });
  }

  async putObjects(
    unit: string,
    outcomes: ReadonlyArray<readonly [key: string, outcome: ObjectOutcome]>,
  ): Promise<void> {
    const s = this.writable();
    const store = s.batches;
    if (!store) throw this.stateError("cannot open its object batches", undefined);
    const now = this.clock().getTime();
    // One batch for each distinct (rules, at): the engine's calls have one (a run's rules, the time it recorded).
    const batches = new Map<string, ObjectBatch>();
    for (const [key, outcome] of outcomes) {
      // Checked here because the batch's value holds the key: the database would take it, but a ledger written
      // before batches could not (its key was `[unit, object key]`), and the ledger's limits stay the same.
      if (Buffer.byteLength(unit) + Buffer.byteLength(key) + KEY_OVERHEAD > MAX_KEY_BYTES)
        throw this.stateError(
          `failed recording objects: object key ${JSON.stringify(key.slice(0, 80))}... of unit ${unit} is longer ` +
            `than the ledger can hold (${MAX_KEY_BYTES} bytes with its unit); these objects are not recorded ` +
            `and will be read again by the next run`,
          undefined,
        );
      const { rules, at, ...rest } = outcome;
      const pair = `${rules}\u0000${at}`;
      let batch = batches.get(pair);
      if (!batch) batches.set(pair, (batch = { rules, at, keys: [], outcomes: [] }));
      batch.keys.push(key);
      batch.outcomes.push(rest);
    }
    if (batches.size === 0) return;
    await this.write("recording objects", async () => {
      await store.transaction(() => {
        // Read inside the write transaction: LMDB serialises writers, so no other write takes the same number.
        let seq = lastSequence(store, unit) + 1;
        for (const batch of batches.values()) {
          store.put([unit, seq], batch);
          // One expiry entry a batch, naming it: the sweep removes just that value (a batch is as old as its `at`).
          s.expiry.put([timeOf(batch.at, now), "B", unit, String(seq)], true);
          seq++;
        }
        if (this.hasLegacy)
          for (const [key] of outcomes) {
            const legacy = s.legacyObjects.get(key);
            if (legacy) {
              s.legacyObjects.remove(key);
              s.expiry.remove([timeOf(legacy.at, now), "l", key]);
            }
          }
      });
    });
  }

  /** Open for writing: this run holds the writer lock (see Ledger.exclusive). */
  get exclusive(): boolean {
    return this.opened && !this.readOnly;
  }

  async getUnit(unit: string): Promise<StoredUnit | undefined> {
    this.assertOpen();
    const store = this.stores?.units;
    if (!store) return undefined;
    // Not getBinaryFast (no copy): its shared buffer grows to twice the largest record read and stays until the
    // ledger closes, tens of megabytes kept for a rerun's whole length after one unit of 50,000 objects.
    return this.read(`reading the replay record of unit ${unit}`, () => unitFromBytes(store.get(unit)));
  }

  async putUnit(unit: string, stored: StoredUnit): Promise<void> {
    const s = this.writable();
    const now = this.clock().getTime();
    await this.write(`recording unit ${unit}`, async () => {
      // Two writes of one event turn, not a transaction callback: lmdb-js commits them in one transaction all the
      // same (its event-turn batching), and compresses the record on its writer thread, where inside a callback it
      // compresses on the main thread (a million objects' records: 1.4 s of the run's main thread).
      // https://github.com/kriszyp/lmdb-js#compression
      // The expiry entry first: were its key refused (a unit id near the key limit), no record would be left
      // without the entry that removes it.
      const expiry = s.expiry.put([timeOf(stored.at, now), "n", unit, randomUUID()], true);
      await Promise.all([
        expiry,
        s.units.put(unit, Buffer.from(`${stored.fingerprint}\n${stored.at}\n${stored.body}`, "utf8")),
      ]);
    });
  }

  async sent(sink: string, keys: readonly string[]): Promise<Set<string>> {
    this.assertOpen();
    const s = this.stores;
    const out = new Set<string>();
    return this.read(`looking up alerts sent to ${sink}`, () => {
      for (const key of keys) {
        const done = s
          ? s.sent.doesExist([sink, key]) || (this.hasLegacy && s.legacySent.doesExist(key))
          : this.v1?.sent.has(key) === true;
        if (done) out.add(key);
      }
      return out;
    });
  }

  async markSent(sink: string, keys: readonly string[], messageId: string): Promise<void> {
    const s = this.writable();
    const now = this.clock();
    const at = now.toISOString();
    await this.write("recording sent alerts", async () => {
      await s.sent.transaction(() => {
        for (const key of keys) {
          const old = s.sent.get([sink, key]);
          if (old) s.expiry.remove([timeOf(old.at, now.getTime()), "s", sink, key]);
          s.sent.put([sink, key], { messageId, at });
          s.expiry.put([now.getTime(), "s", sink, key], true);
        }
      });
    });
  }

  async pending(sink: string): Promise<Alert[]> {
    this.assertOpen();
    const s = this.stores;
    if (!s) return [...(this.v1?.pending ?? [])];
    const out: Alert[] = [];
    const seen = new Set<string>();
    return this.read(`reading alerts pending for ${sink}`, () => {
      // Every key of this sink and no other: [sink, *] sorts before [sink + NUL].
      for (const { key, value } of s.pending.getRange({ start: [sink], end: [`${sink}\u0000`] })) {
        seen.add(key[1]);
        if (value) out.push(value);
      }
      if (this.hasLegacy)
        for (const { key, value } of s.legacyPending.getRange({})) if (!seen.has(key)) out.push(value);
      return out;
    });
  }

  async addPending(sink: string, alerts: readonly Alert[]): Promise<void> {
    const s = this.writable();
    await this.write("keeping pending alerts", async () => {
      await s.pending.transaction(() => {
        for (const alert of alerts) s.pending.put([sink, alertKey(alert)], alert);
      });
    });
  }

  async removePending(sink: string, keys: readonly string[]): Promise<void> {
    const s = this.writable();
    await this.write("removing pending alerts", async () => {
      await s.pending.transaction(() => {
        for (const key of keys) {
          // An imported alert is pending for every sink: this sink's tombstone keeps it for the others.
          if (this.hasLegacy && s.legacyPending.doesExist(key)) s.pending.put([sink, key], null);
          else s.pending.remove([sink, key]);
        }
      });
    });
  }

  async putAttempts(scope: string, attempts: readonly LoginAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    const s = this.writable();
    const store = s.attempts!;
    // The sweep drops index entries older than now minus the retention: an attempt's entry is placed so that it
    // falls due its own (shorter) retention after it was written, with no second sweep.
    const due = this.clock().getTime() + this.attemptRetentionMs - this.retentionMs;
    // One value an hour of attempts, not one an attempt: a unit's thousands of logins are then a few dozen writes
    // (each write costs more than packing one more attempt). A range read starts at its hour and filters.
    const byHour = new Map<number, LoginAttempt[]>();
    for (const a of attempts) {
      if (!Number.isFinite(a.time)) continue; // no window can hold it
      const hour = Math.floor(a.time / HOUR_MS) * HOUR_MS;
      const list = byHour.get(hour);
      if (list) list.push(a);
      else byHour.set(hour, [a]);
    }
    if (byHour.size === 0) return;
    await this.write("keeping login attempts", async () => {
      await store.transaction(() => {
        const batch: Array<[number, string]> = [];
        for (const [hour, list] of byHour) {
          const id = randomUUID();
          store.put([scope, hour, id], list);
          batch.push([hour, id]);
        }
        s.expiry.put([due, "A", scope, randomUUID()], batch);
      });
    });
  }

  async attempts(scope: string, from: number, to: number): Promise<LoginAttempt[]> {
    this.assertOpen();
    const store = this.stores?.attempts;
    if (!store || !(from < to)) return [];
    return this.read(`reading login attempts of ${scope}`, () => {
      const found: LoginAttempt[] = [];
      const take = (a: LoginAttempt) => {
        if (a.time >= from && a.time < to) found.push(a);
      };
      const start = Math.floor(from / HOUR_MS) * HOUR_MS;
      for (const { value } of store.getRange({ start: [scope, start], end: [scope, to] })) {
        // An hour's attempts, or one attempt as ledgers written before hours kept them.
        if (Array.isArray(value)) for (const a of value) take(a);
        else take(value);
      }
      return distinctAttempts(found);
    });
  }

  async getBaselines(userKeys: readonly string[]): Promise<Map<string, LocationBaseline>> {
    this.assertOpen();
    const out = new Map<string, LocationBaseline>();
    const b = this.stores ? this.baselineStores(this.stores) : undefined;
    if (!b) return out;
    const now = this.clock().getTime();
    return this.read("reading location baselines", () => {
      for (const key of new Set(userKeys)) {
        const stored = b.baselines.get(key);
        // Expired but not yet swept (the sweep runs at close): as good as gone.
        if (stored && stored.expiresAt >= now && isLocationBaseline(stored.baseline))
          out.set(key, stored.baseline);
      }
      return out;
    });
  }

  async putBaselines(baselines: readonly StoredBaseline[]): Promise<void> {
    const s = this.writable();
    const b = this.baselineStores(s);
    if (!b) throw this.stateError("cannot open its location baselines", undefined);
    await this.write("recording location baselines", async () => {
      await b.baselines.transaction(() => {
        for (const entry of baselines) {
          const old = b.baselines.get(entry.userKey);
          if (old) b.expiry.remove([old.expiresAt, entry.userKey]);
          b.baselines.put(entry.userKey, entry);
          b.expiry.put([entry.expiresAt, entry.userKey], true);
        }
      });
    });
  }

  /**
   * The baseline databases, opened on first use: a ledger written before them has none, and a read-only (dry)
   * run cannot create them, so there it reads as "no baselines" (null).
   */
  private baselineStores(s: Stores): BaselineStores | undefined {
    if (s.baselines === undefined) {
      try {
        // lmdb answers undefined (not an error) for a database a read-only environment does not have.
        const baselines = s.env.openDB<StoredBaseline, string>({
          name: "baselines",
          sharedStructuresKey: STRUCTURES,
        }) as Database<StoredBaseline, string> | undefined;
        const expiry = s.env.openDB<true, [number, string]>({ name: "baseline-expiry" }) as
          Database<true, [number, string]> | undefined;
        s.baselines = baselines && expiry ? { baselines, expiry } : null;
        if (!s.baselines && !this.readOnly)
          throw new Error("the location baseline databases cannot be created");
      } catch (err) {
        if (!this.readOnly) throw this.stateError("cannot open its location baselines", err);
        s.baselines = null;
      }
    }
    return s.baselines ?? undefined;
  }

  /**
   * How many distinct completed objects the ledger holds (for diagnostics and tests; not part of the Ledger port):
   * a key in several batches, or in a batch and an entry of a ledger written before, counts once. Reads every
   * batch.
   */
  async countObjects(): Promise<number> {
    this.assertOpen();
    const s = this.stores;
    return this.read("counting objects", () => {
      if (!s) return this.v1?.objects.size ?? 0;
      const keys = new Set<string>();
      if (s.batches)
        for (const { key, value } of s.batches.getRange({}))
          if (isBatch(value)) for (const k of value.keys) keys.add(`${key[0]}\u0000${k}`);
      for (const key of s.objects.getKeys({})) keys.add(`${key[0]}\u0000${key[1]}`);
      // Imported keys have no unit, and writing one again removes it from there.
      return keys.size + s.legacyObjects.getKeysCount();
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const s = this.stores;
    this.stores = undefined;
    this.v1 = undefined;
    if (!s) return;
    let failure: unknown;
    try {
      if (!this.readOnly) await this.sweep(s);
    } catch (err) {
      failure = err;
    }
    try {
      if (!this.readOnly && this.holder) {
        const ours = this.holder;
        await s.meta.transaction(() => {
          const current = s.meta.get("holder") as HolderRecord | undefined;
          if (current?.run === ours.run) s.meta.remove("holder");
        });
        await s.env.flushed;
      }
    } catch (err) {
      failure ??= err;
    } finally {
      await s.env.close().catch((err: unknown) => {
        failure ??= err;
      });
    }
    if (failure !== undefined) throw this.stateError("could not be closed", failure);
  }

  /** Drops objects and sent keys older than the retention: a range of the time index, nothing else is read. */
  private async sweep(s: Stores): Promise<void> {
    const cutoff = this.clock().getTime() - this.retentionMs;
    for (;;) {
      const expired = [...s.expiry.getKeys({ end: [cutoff], limit: SWEEP_BATCH })] as Array<
        [number, ExpiryKind, ...string[]]
      >;
      if (expired.length === 0) break;
      await s.expiry.transaction(() => {
        const units = new Set<string>();
        for (const key of expired) {
          const [, kind, a = "", b = ""] = key;
          if (kind === "B") s.batches?.remove([a, Number(b)]);
          else if (kind === "U") {
            // Once per unit in this pass, whatever the number of its batches (the function writes one an object).
            if (!units.has(a)) {
              units.add(a);
              for (const { key: k, value } of s.objects.getRange(unitRange(a)))
                if (timeOf(value.at, cutoff) <= cutoff) s.objects.remove(k);
            }
          } else if (kind === "u") {
            const keys = s.expiry.get(key);
            for (const k of Array.isArray(keys) ? keys : []) {
              if (typeof k !== "string") continue;
              const outcome = s.objects.get([a, k]);
              if (outcome && timeOf(outcome.at, cutoff) <= cutoff) s.objects.remove([a, k]);
            }
          } else if (kind === "o") s.objects.remove([a, b]);
          else if (kind === "s") s.sent.remove([a, b]);
          else if (kind === "a") s.attempts?.remove([a, Number(b), key[4] ?? ""]);
          else if (kind === "A") {
            const batch = s.expiry.get(key);
            for (const entry of Array.isArray(batch) ? batch : [])
              if (Array.isArray(entry)) s.attempts?.remove([a, Number(entry[0]), String(entry[1])]);
          } else if (kind === "n") {
            // Stored again since: that newer record has an index entry of its own.
            const unit = unitFromBytes(s.units.get(a));
            if (unit && timeOf(unit.at, cutoff) <= cutoff) s.units.remove(a);
          } else if (kind === "l") s.legacyObjects.remove(a);
          else s.legacySent.remove(a);
          s.expiry.remove(key);
        }
      });
      await s.env.flushed;
      if (expired.length < SWEEP_BATCH) break;
    }
    const b = this.baselineStores(s);
    const now = this.clock().getTime();
    for (;;) {
      // Baselines expire by their own window (the rules' days), not the ledger's retention.
      const expired = b ? [...b.expiry.getKeys({ end: [now], limit: SWEEP_BATCH })] : [];
      if (!b || expired.length === 0) return;
      await b.expiry.transaction(() => {
        for (const key of expired) {
          const stored = b.baselines.get(key[1]);
          if (stored && stored.expiresAt === key[0]) b.baselines.remove(key[1]);
          b.expiry.remove(key);
        }
      });
      await s.env.flushed;
      if (expired.length < SWEEP_BATCH) return;
    }
  }

  // ---- opening ----------------------------------------------------------------------------------------------

  /** What is at the path, without opening it as a database (LMDB would crash the process on a truncated file). */
  private async inspect(): Promise<"missing" | "json" | "lmdb"> {
    let handle;
    try {
      handle = await openFile(this.file, "r");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a file where a folder of the path should be: no ledger can be there (creating it will say why).
      if (code === "ENOENT" || code === "ENOTDIR") return "missing";
      throw this.unreadable(`cannot be opened (${describeError(err)})`, err);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw this.unreadable("is not a file");
      const buffer = Buffer.alloc(65_536 * 2);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      const head = buffer.subarray(0, bytesRead);
      const text = head.subarray(0, 64).toString("latin1").trimStart();
      if (text.startsWith("{")) return "json";
      // The size is taken after the meta pages were read: another run may be committing, and LMDB writes a
      // transaction's pages before the meta that names them, so a size taken first can end before a newer meta's
      // last page although the file is whole.
      const problem = checkLmdbFile(head, (await handle.stat()).size);
      if (problem) throw this.unreadable(problem);
      return "lmdb";
    } catch (err) {
      if (err instanceof LedgerUnreadableError) throw err;
      throw this.unreadable(`cannot be read (${describeError(err)})`, err);
    } finally {
      await handle.close();
    }
  }

  /**
   * Checks the format, then opens the sub-databases. LMDB opens a named database of a read-only environment in a
   * read transaction, and while another process commits that can miss a database that is there (lmdb-js says so in
   * its open.js): a ledger another run was writing read as "not a cts-audit ledger". Such a failure is tried again
   * a few times; a file that really is not a ledger fails every time, and says so about 0.75 s later.
   */
  private async openChecked(): Promise<Stores> {
    for (let attempt = 1; ; attempt++) {
      let stores: Stores | undefined;
      try {
        // Checked before the sub-databases are opened: opening them writable would add them to a foreign database.
        await this.checkFormat();
        stores = this.openStores();
        const missing: string[] = REQUIRED_STORES.filter((name) => stores![name] === undefined);
        // A ledger written before batches has no such database; one that says it has must show it (a read-only
        // open racing a commit can miss it, and reading on without it would find no completed object).
        if (missing.length === 0 && stores.batches === undefined && stores.meta.get(HAS_BATCHES) === true)
          missing.push("object-batches");
        if (missing.length > 0)
          throw this.unreadable(
            `is a database but lacks ${missing.join(", ")} (not a whole cts-audit ledger)`,
          );
        return stores;
      } catch (err) {
        await stores?.env.close().catch(() => undefined);
        if (attempt >= OPEN_ATTEMPTS || !(err instanceof LedgerUnreadableError)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 25 * 2 ** attempt));
      }
    }
  }

  private openStores(): Stores {
    let env: RootDatabase;
    try {
      // noSubdir: the ledger is the file the user named, whatever its name (LMDB guesses from a dot otherwise).
      env = openLmdb({ path: this.file, noSubdir: true, maxDbs: MAX_DBS, readOnly: this.readOnly });
    } catch (err) {
      throw this.unreadable(`cannot be opened as a database (${describeError(err)})`, err);
    }
    return openSubDatabases(env);
  }

  private async checkFormat(): Promise<void> {
    let format: FormatRecord | undefined;
    let env: RootDatabase | undefined;
    try {
      env = openLmdb({ path: this.file, noSubdir: true, maxDbs: MAX_DBS, readOnly: true });
      format = env.openDB({ name: "meta" }).get("format") as FormatRecord | undefined;
    } catch (err) {
      throw this.unreadable(`is a database but not a cts-audit ledger (${describeError(err)})`, err);
    } finally {
      await env?.close();
    }
    if (!format || typeof format.version !== "number")
      throw this.unreadable("is a database but not a cts-audit ledger (it has no format record)");
    if (format.version !== FORMAT)
      throw this.unreadable(
        `was written by another version of cts-audit (ledger format ${format.version}, this version reads ${FORMAT})`,
      );
  }

  /** A new ledger is made beside the path and linked into place, so the path is never a half-made database. */
  private async create(): Promise<void> {
    const tmp = `${this.file}.new-${process.pid}-${randomUUID().slice(0, 8)}`;
    try {
      const env = openLmdb({ path: tmp, noSubdir: true, maxDbs: MAX_DBS });
      const s = openSubDatabases(env);
      await s.meta.put("format", {
        version: FORMAT,
        createdAt: this.clock().toISOString(),
      } satisfies FormatRecord);
      await env.flushed;
      await env.close();
      try {
        await link(tmp, this.file);
      } catch (err) {
        // Another run made it first: use theirs.
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    } catch (err) {
      throw this.stateError("cannot be created", err);
    } finally {
      await rm(tmp, { force: true });
      await rm(`${tmp}-lock`, { force: true });
    }
  }

  private async readV1(): Promise<LedgerV1> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.file, "utf8"));
    } catch (err) {
      throw this.unreadable(`is not valid JSON (${describeError(err)})`, err);
    }
    const v1 = parsed as Partial<LedgerV1> | null;
    const problems: string[] = [];
    if (!v1 || v1.version !== 1) problems.push("its version is not 1");
    else {
      // A part missing must not read as "nothing sent": the run would send everything again.
      if (!isRecord(v1.objects)) problems.push('"objects" is missing');
      if (!isRecord(v1.alerted)) problems.push('"alerted" is missing');
      if (!Array.isArray(v1.pending)) problems.push('"pending" is missing');
      if (isRecord(v1.objects))
        for (const [key, o] of Object.entries(v1.objects))
          if (!isRecord(o) || typeof o.fingerprint !== "string") {
            problems.push(`object ${JSON.stringify(key)} has no fingerprint`);
            break;
          }
    }
    if (problems.length > 0)
      throw this.unreadable(`is a JSON file but not a cts-audit ledger (${problems.join(", ")})`);
    return v1 as LedgerV1;
  }

  /**
   * Imports the old JSON ledger once: a new database is written beside it, the old file is linked to
   * `<path>.v1.json`, then the database is renamed over the path. A crash at any point leaves the path the old
   * ledger (imported again next time) or the new one, never neither.
   */
  private async importV1(holder: LedgerHolder, deadline: number): Promise<void> {
    const lockFile = `${this.file}.import-lock`;
    await this.takeImportLock(lockFile, holder, deadline);
    const tmp = `${this.file}.importing-${process.pid}-${randomUUID().slice(0, 8)}`;
    try {
      // Another run may have imported it while this one waited.
      if ((await this.inspect()) !== "json") return;
      const v1 = await this.readV1();
      const aside = await this.asideName();
      const now = this.clock().getTime();
      const env = openLmdb({ path: tmp, noSubdir: true, maxDbs: MAX_DBS });
      const s = openSubDatabases(env);
      await s.meta.transaction(() => {
        s.meta.put("format", {
          version: FORMAT,
          createdAt: this.clock().toISOString(),
          importedFrom: aside,
        } satisfies FormatRecord);
        for (const [key, outcome] of Object.entries(v1.objects)) {
          s.legacyObjects.put(key, outcome);
          s.expiry.put([timeOf(outcome.at, now), "l", key], true);
        }
        // The old ledger did not record where an alert was sent: its keys count as sent to every sink, because
        // an alert never sent twice beats one maybe sent twice.
        for (const [key, record] of Object.entries(v1.alerted)) {
          s.legacySent.put(key, record);
          s.expiry.put([timeOf(record.at, now), "L", key], true);
        }
        for (const alert of v1.pending) s.legacyPending.put(alertKey(alert), alert);
      });
      await env.flushed;
      await env.close();
      await this.keepAside(aside);
      await rename(tmp, this.file);
    } catch (err) {
      if (err instanceof LedgerUnreadableError) throw err;
      throw this.stateError(`could not import the old JSON ledger (it is left in place)`, err);
    } finally {
      await rm(tmp, { force: true });
      await rm(`${tmp}-lock`, { force: true });
      await rm(lockFile, { force: true });
    }
  }

  /** `<path>.v1.json`, or a dated name if an earlier import left one (a crash after keeping it aside). */
  private async asideName(): Promise<string> {
    const plain = `${this.file}.v1.json`;
    try {
      await stat(plain);
    } catch {
      return plain;
    }
    const [current, earlier] = await Promise.all([readFile(this.file), readFile(plain)]);
    if (current.equals(earlier)) return plain;
    return `${this.file}.v1-${this.clock().toISOString().replace(/[:.]/g, "-")}.json`;
  }

  private async keepAside(aside: string): Promise<void> {
    try {
      await link(this.file, aside);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return; // the same bytes, kept by an import that crashed after keeping them
      // A file system without hard links: a copy, made durable before the database replaces the original.
      await copyFile(this.file, aside, fsConstants.COPYFILE_EXCL);
      const h = await openFile(aside, "r+");
      try {
        await h.sync();
      } finally {
        await h.close();
      }
    }
  }

  /**
   * The import happens before there is a database to hold the writer lock, so it takes a lock file of its own
   * (created exclusively, naming the holder). It is taken once per ledger, so the rare race it leaves (two runs
   * both taking over the lock of an import that crashed) is accepted.
   */
  private async takeImportLock(lockFile: string, holder: LedgerHolder, deadline: number): Promise<void> {
    const record = JSON.stringify(await holderRecord(holder));
    for (;;) {
      try {
        const h = await openFile(lockFile, "wx");
        try {
          await h.writeFile(record);
        } finally {
          await h.close();
        }
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw this.stateError("cannot be locked", err);
      }
      let other: HolderRecord | undefined;
      try {
        other = JSON.parse(await readFile(lockFile, "utf8")) as HolderRecord;
      } catch {
        other = undefined; // being written, or removed meanwhile
      }
      if (other && (await isStale(other))) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() >= deadline)
        throw new LedgerBusyError(this.busyMessage(other, "is importing the old JSON ledger", 0));
      await sleep(LOCK_POLL_MS);
    }
  }

  /**
   * The writer lock is a record in the database itself, taken in a transaction: LMDB serialises write
   * transactions across processes, so checking and taking it is atomic, and the record names the holder. No
   * library fits: proper-lockfile (mkdir plus a refreshed mtime) cannot name the holder, tells a dead holder only
   * after its staleness period, and would be a second lock beside LMDB's. A holder on this host whose process is
   * gone (pid not alive, or reused by a process started later, or the host rebooted since) is taken over at once.
   */
  private async lock(holder: LedgerHolder, deadline: number, lockWaitMs: number): Promise<void> {
    const s = this.stores;
    if (!s) return;
    const mine = await holderRecord(holder);
    for (;;) {
      const current = s.meta.get("holder") as HolderRecord | undefined;
      const free = !current || current.run === mine.run || (await isStale(current));
      if (free) {
        const taken = await s.meta.transaction(() => {
          // Again inside the transaction: another run may have taken it since the read above.
          const now = s.meta.get("holder") as HolderRecord | undefined;
          if (now && now.run !== current?.run) return false;
          s.meta.put("holder", mine);
          // From here on the batches' database is required (see openChecked); it exists: opening it made it.
          if (s.batches && s.meta.get(HAS_BATCHES) !== true) s.meta.put(HAS_BATCHES, true);
          return true;
        });
        if (taken) {
          await s.env.flushed;
          this.holder = mine;
          return;
        }
        continue;
      }
      if (Date.now() >= deadline)
        throw new LedgerBusyError(this.busyMessage(current, "holds it", lockWaitMs));
      await sleep(LOCK_POLL_MS);
    }
  }

  private busyMessage(other: HolderRecord | undefined, doing: string, waitedMs: number): string {
    const who = other
      ? `run ${other.run} (pid ${other.pid} on ${other.host}, since ${other.startedAt}: ${other.command})`
      : "another run";
    return (
      `ledger ${this.file} is busy: ${who} ${doing}; waited ${Math.round(waitedMs / 1000)} s. ` +
      `Wait for that run to finish and try again, or stop it if it is stuck; ` +
      `a run that was killed on this host is taken over automatically.`
    );
  }

  // ---- helpers ----------------------------------------------------------------------------------------------

  private assertOpen(): void {
    if (!this.opened || this.closed) throw this.stateError("is not open", undefined);
  }

  private writable(): Stores {
    this.assertOpen();
    if (this.readOnly || !this.stores)
      throw this.stateError("was opened read only (a dry run writes nothing)", undefined);
    return this.stores;
  }

  private read<T>(what: string, action: () => T): Promise<T> {
    try {
      return Promise.resolve(action());
    } catch (err) {
      return Promise.reject(this.stateError(`failed ${what}`, err));
    }
  }

  private async write(what: string, action: () => Promise<void>): Promise<void> {
    try {
      await action();
      // Durable when it returns: the commit is flushed to disk, not only visible.
      await this.stores?.env.flushed;
    } catch (err) {
      throw this.stateError(`failed ${what}`, err);
    }
  }

  private unreadable(problem: string, cause?: unknown): LedgerUnreadableError {
    return new LedgerUnreadableError(
      `ledger ${this.file} ${problem}: move it aside (for example to ${this.file}.broken) to start a new ledger; ` +
        `alerts already sent may then be sent again`,
      cause === undefined ? undefined : { cause },
    );
  }

  private stateError(problem: string, cause: unknown): CtsAuditError {
    const detail = cause === undefined ? "" : `: ${describeError(cause)}`;
    return new CtsAuditError(
      "STATE",
      `ledger ${this.file} ${problem}${detail}`,
      cause === undefined ? undefined : { cause },
    );
  }
}

const STRUCTURES = Symbol.for("structures");
// Above this many keys, a unit's lookup reads the unit's range instead of key by key.
const RANGE_LOOKUP_MIN = 64;
// Sorts after any object key (ordered-binary orders strings by their UTF-8 bytes).
/**
 * Every `[unit, key]` of one unit and no other: such keys sort before `[unit + NUL]`, whatever the key (one that
 * starts with U+FFFF or a character beyond it included, which an end of `[unit, "\uffff"]` missed).
 */
const unitRange = (unit: string) => ({ start: [unit], end: [`${unit}\u0000`] });
/** The same range read backwards (lmdb-js: `start` is the high end, `end` the low one, both as above). */
const unitRangeBackwards = (unit: string) => ({ start: [`${unit}\u0000`], end: [unit], reverse: true });
/** lmdb-js's largest key (its default, which the ledger keeps: it sets no page size). */
const MAX_KEY_BYTES = 1978;
/** What ordered-binary adds to `[unit, object key]` (a separator and a type byte), with a byte to spare. */
const KEY_OVERHEAD = 3;

/** The sequence number of the unit's newest batch, or -1 when it has none. */
function lastSequence(store: Database<ObjectBatch, [string, number]>, unit: string): number {
  for (const key of store.getKeys({ ...unitRangeBackwards(unit), limit: 1 })) {
    const seq = (key as [string, number])[1];
    if (typeof seq === "number" && Number.isFinite(seq)) return seq;
  }
  return -1;
}

/**
 * The newest outcome the unit's batches hold of each key asked for, whatever its fingerprint (a newer outcome with
 * another fingerprint hides an older one that matched, as an entry replaced in place did). Reads the batches
 * newest first and stops once every key has one: an object the function records alone is usually found early.
 */
function newestInBatches(
  store: Database<ObjectBatch, [string, number]>,
  unit: string,
  items: ReadonlyArray<{ key: string }>,
): Map<string, ObjectOutcome> {
  const newest = new Map<string, ObjectOutcome>();
  // Made at the first batch: a unit read for the first time has none, and hashing its keys for nothing was a fifth
  // of a second of a million-object first run.
  let wanted: Set<string> | undefined;
  let left = 0;
  for (const { value } of store.getRange(unitRangeBackwards(unit))) {
    if (!isBatch(value)) continue;
    if (!wanted) {
      wanted = new Set(items.map((item) => item.key));
      left = wanted.size;
      if (left === 0) return newest;
    }
    const { keys, outcomes, rules, at } = value;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const outcome = outcomes[i];
      if (!outcome || !wanted.has(key) || newest.has(key)) continue;
      newest.set(key, { ...outcome, rules, at });
      if (--left === 0) return newest;
    }
  }
  return newest;
}

function isBatch(value: unknown): value is ObjectBatch {
  return isRecord(value) && Array.isArray(value.keys) && Array.isArray(value.outcomes);
}

function openSubDatabases(env: RootDatabase): Stores {
  return {
    env,
    meta: env.openDB({ name: "meta" }),
    // lmdb answers undefined for a database a read-only environment does not have (a ledger written before).
    batches: env.openDB({ name: "object-batches", sharedStructuresKey: STRUCTURES }) as
      Database<ObjectBatch, [string, number]> | undefined,
    // Shared record structures: a value does not carry its field names (a million outcomes of one shape).
    objects: env.openDB({ name: "objects", sharedStructuresKey: STRUCTURES }),
    sent: env.openDB({ name: "sent", sharedStructuresKey: STRUCTURES }),
    pending: env.openDB({ name: "pending", sharedStructuresKey: STRUCTURES }),
    expiry: env.openDB({ name: "expiry" }),
    attempts: env.openDB({ name: "attempts", sharedStructuresKey: STRUCTURES }),
    units: env.openDB({ name: "unit-replays", encoding: "binary", compression: true }),
    legacyObjects: env.openDB({ name: "legacy-objects" }),
    legacySent: env.openDB({ name: "legacy-sent" }),
    legacyPending: env.openDB({ name: "legacy-pending" }),
  };
}

/** A unit's replay record from its stored bytes (see `Stores.units`); undefined when there is none. */
function unitFromBytes(bytes: Buffer | undefined): StoredUnit | undefined {
  if (!bytes) return undefined;
  const first = bytes.indexOf(10);
  const second = first < 0 ? -1 : bytes.indexOf(10, first + 1);
  if (second < 0) return undefined;
  return {
    fingerprint: bytes.toString("utf8", 0, first),
    at: bytes.toString("utf8", first + 1, second),
    body: bytes.toString("utf8", second + 1),
  };
}

/** An entry's time for expiry; one without a readable time counts from now. */
function timeOf(at: string | undefined, now: number): number {
  const t = at === undefined ? NaN : Date.parse(at);
  return Number.isFinite(t) ? t : now;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const LMDB_MAGIC = 0xbeefc0de;
/** LMDB 1.x (as lmdb-js builds it): a 24-byte page header, then the meta record (see its mdb.c, MDB_meta). */
const META = { magic: 24, psize: 48, lastPage: 144, txnid: 152 } as const;

/**
 * Why a file is not a whole LMDB database, or undefined when it looks whole. LMDB maps the file into memory and a
 * read past its end kills the process (SIGBUS), so a truncated ledger must be caught before it is opened: the
 * newer of the two meta pages names the last page in use, and the file must reach it.
 */
export function checkLmdbFile(head: Buffer, size: number): string | undefined {
  if (size === 0) return "is empty";
  if (head.length < META.txnid + 8 || head.readUInt32LE(META.magic) !== LMDB_MAGIC)
    return "is neither a cts-audit ledger nor an old JSON ledger";
  const psize = head.readUInt32LE(META.psize);
  if (psize < 512 || psize > 65_536 || (psize & (psize - 1)) !== 0) return "has a damaged header";
  const metas = [0, psize]
    .filter(
      (off) => head.length >= off + META.txnid + 8 && head.readUInt32LE(off + META.magic) === LMDB_MAGIC,
    )
    .map((off) => ({
      lastPage: head.readBigUInt64LE(off + META.lastPage),
      txnid: head.readBigUInt64LE(off + META.txnid),
    }));
  const newest = metas.reduce((a, b) => (b.txnid > a.txnid ? b : a));
  const needed = (newest.lastPage + 1n) * BigInt(psize);
  if (BigInt(size) < needed) return `is truncated (${size} bytes, its last page ends at ${needed})`;
  return undefined;
}

async function holderRecord(holder: LedgerHolder): Promise<HolderRecord> {
  const me = await processIdentity(process.pid);
  return { ...holder, ...me };
}

/** Linux's boot id and a process's start time (clock ticks since boot); nothing elsewhere. */
async function processIdentity(pid: number): Promise<{ boot?: string; procStart?: string }> {
  try {
    const [boot, statText] = await Promise.all([
      readFile("/proc/sys/kernel/random/boot_id", "utf8"),
      readFile(`/proc/${pid}/stat`, "utf8"),
    ]);
    // The fields after the command name (which may hold spaces), from the last ')': starttime is field 22.
    const fields = statText.slice(statText.lastIndexOf(")") + 2).split(" ");
    const procStart = fields[19];
    return procStart === undefined ? {} : { boot: boot.trim(), procStart };
  } catch {
    return {};
  }
}

/** Whether a holder is certainly gone: on this host, and its process no longer the one that took the lock. */
async function isStale(holder: HolderRecord): Promise<boolean> {
  if (holder.host !== hostname()) return false;
  if (holder.pid === process.pid) return false;
  if (!pidAlive(holder.pid)) return true;
  if (holder.boot === undefined || holder.procStart === undefined) return false;
  const now = await processIdentity(holder.pid);
  if (now.boot === undefined || now.procStart === undefined) return false;
  return now.boot !== holder.boot || now.procStart !== holder.procStart;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
