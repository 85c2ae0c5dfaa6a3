import { createHash, randomUUID } from "node:crypto";
import pLimit, { type LimitFunction } from "p-limit";
import type { LoginAttempt } from "../detect/LoginAttempt.js";
import type { Alert } from "../detect/types.js";
import { CtsAuditError, describeError, LedgerUnreadableError } from "../errors.js";
import type { ObsBucket } from "../sources/ObsBucket.js";
import { alertKey } from "./alertKey.js";
import type { LocationBaseline, Sighting } from "../detect/LocationBaseline.js";
import type { Ledger, LedgerOpenOptions, ObjectOutcome, StoredBaseline, StoredUnit } from "./types.js";
import { distinctAttempts } from "./distinctAttempts.js";

/**
 * Up to this many objects, `getObjects` GETs their markers directly; above it, it lists the unit's folder once and
 * GETs only the markers that exist. At most this many GETs run at once, so up to here the lookup is one parallel
 * round trip with no LIST (the function's single object: exactly one GET). Above it the GETs take several rounds
 * anyway, and one LIST (1 request per 1,000 markers) saves every 404 of a unit not yet done, which is the common
 * case of a backfill, at the price of one more round trip when the unit is done.
 */
export const DIRECT_LOOKUP_MAX = 16;

/** Requests in flight at once per ledger (the SDK's sockets and the function's memory are shared). */
const DEFAULT_CONCURRENCY = 16;

/** Marker bodies carry a version: a marker this version cannot read is handled as described per kind below. */
const VERSION = 1;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * One path segment for a unit or sink id: readable (unsafe characters become `_`, at most 96 of them) and exact
 * (a hash of the whole id follows, so `a/b` and `a_b` differ). A single segment also keeps one unit's folder from
 * containing another's (`x/` would contain `x/y/` if ids were used as folders).
 */
export function folderName(id: string): string {
  const slug = id.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 96);
  return `${slug}-${sha256(id).slice(0, 16)}`;
}

interface ObjectMarker {
  v: number;
  unit: string;
  key: string;
  run?: string;
  outcome: ObjectOutcome;
}

interface UnitMarker {
  v: number;
  unit: string;
  run?: string;
  stored: StoredUnit;
}

const isStoredUnit = (x: unknown): x is StoredUnit =>
  isRecord(x) && typeof x.fingerprint === "string" && typeof x.body === "string" && typeof x.at === "string";

interface PendingMarker {
  v: number;
  sink: string;
  key: string;
  run?: string;
  at: string;
  alert: Alert;
}

interface AttemptsMarker {
  v: number;
  scope: string;
  run?: string;
  attempts: LoginAttempt[];
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The UTC day (`yyyy-mm-dd`) of an epoch ms, or undefined outside the date range. */
function dayOf(ms: number): string | undefined {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().slice(0, 10);
}

function isAttempt(x: unknown): x is LoginAttempt {
  return (
    isRecord(x) &&
    typeof x.time === "number" &&
    (x.outcome === "success" || x.outcome === "failure") &&
    ["traceId", "traceName", "user", "userKey", "domain", "sourceIp", "object", "region"].every(
      (f) => typeof x[f] === "string",
    )
  );
}

/** One fact of a user's location baseline: its login span, or one country or network with when it was seen. */
interface BaselineMarker {
  v: number;
  user: string;
  kind: "span" | "country" | "asn";
  /** The country or ASN; `""` for the span. */
  value: string;
  first: number;
  last: number;
  expiresAt: number;
  run?: string;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;

function isOutcome(x: unknown): x is ObjectOutcome {
  return (
    isRecord(x) &&
    typeof x.fingerprint === "string" &&
    typeof x.rules === "string" &&
    typeof x.at === "string" &&
    isRecord(x.record) &&
    Array.isArray(x.alerts) &&
    Array.isArray(x.matchedTimes) &&
    // A reused object's attempts go straight into the windowed rules: a malformed one makes the marker absent.
    (x.attempts === undefined || (Array.isArray(x.attempts) && x.attempts.every(isAttempt)))
  );
}

function isAlert(x: unknown): x is Alert {
  return (
    isRecord(x) &&
    ["traceId", "traceName", "user", "sourceIp", "time", "object"].every((f) => typeof x[f] === "string")
  );
}

function isBaselineMarker(x: unknown): x is BaselineMarker {
  return (
    isRecord(x) &&
    x.v === VERSION &&
    typeof x.user === "string" &&
    (x.kind === "span" || x.kind === "country" || x.kind === "asn") &&
    typeof x.value === "string" &&
    typeof x.first === "number" &&
    typeof x.last === "number" &&
    typeof x.expiresAt === "number"
  );
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Options of an {@link ObsLedger}. */
export interface ObsLedgerOptions {
  /** The time written into sent and pending markers. */
  clock?: () => Date;
  /** Requests in flight at once (default 16). */
  concurrency?: number;
}

/**
 * The ledger of the function and of OBS backfills: one small marker object per entry under a prefix of a bucket.
 *
 * Layout (`P` = the prefix, ending in `/`; `F(id)` = {@link folderName}; `H(x)` = hex SHA-256 of `x`):
 * - `P objects/F(unit)/H(object key).json`: `{v, unit, key, run, outcome}`, one per completed object;
 * - `P units/F(unit).json`: `{v, unit, run, stored}`, a unit's replay record (one per unit, replaced when the unit
 *   is stored again: every writer of it writes the same listing's outcome, or a newer one);
 * - `P sent/F(sink)/H(alert key).json`: `{v, sink, key, messageId, run, at}`, one per alert sent to a sink;
 * - `P pending/F(sink)/H(alert key).json`: `{v, sink, key, run, at, alert}`, one per alert not yet sent to a sink;
 * - `P baselines/F(user key)/{span|c-XX|a-N}.json`: `{v, user, kind, value, first, last, expiresAt, run}`, a user's
 *   location baseline (issue 15) as one marker per fact (the login span, each country, each ASN), so that two runs
 *   seeing the same user at once each write their own facts and lose none (last writer wins only for the same fact,
 *   whose times differ by the runs' overlap). Looked up per user: one LIST of that user's folder;
 * - `P attempts/F(scope)/<yyyy-mm-dd>/<first ms>-<last ms>-<uuid>.json`: `{v, scope, run, attempts}`, the login
 *   attempts of one `putAttempts` call on one UTC day (windowed rules). A time range is read by listing only the
 *   day folders it touches and reading only the markers whose span (in their name) overlaps it; each marker has a
 *   name of its own, so concurrent writers never overwrite each other's.
 *
 * **No lock, by design.** OBS has no lock or compare-and-swap, and FunctionGraph runs one invocation per object
 * CTS writes, many at once, so `open` takes no lock and makes no request. That is safe because no shared object is
 * ever read, modified and written back: every entry is its own marker, a PUT of a marker is atomic (a reader sees
 * the old or the new body, never part of one), writers only create or overwrite the marker of the entry they own
 * and delete only the markers they are told to. Two writers of the same marker write the same fact (the same
 * object's outcome, the same alert). The one interleaving that matters: run A removes a pending alert it has just
 * sent while run B adds it again; the engine filters `pending` through `sent` before sending, so it is not sent
 * twice, and the marker left behind is removed by the next run that sends.
 *
 * **Retention: an OBS lifecycle rule, not this class.** Set expiration rules (OBS console: bucket, Basic
 * Configurations, Lifecycle Rules; or `SetBucketLifecycle`) on `P objects/`, `P units/` and `P sent/` with the
 * same number of days, longer than any window a backfill or replay re-reads (e.g. 90 days). Expire `P baselines/` after the
 * `new-country`/`new-asn` window (90 days): a marker is rewritten each time its fact is seen, so its age is the time
 * since it was last seen; reads also ignore markers past their `expiresAt`. `sent/` must not expire before
 * `objects/`: a kept outcome whose alerts' sent markers are gone would send them again. Do **not** expire
 * `P pending/` (or only far later, accepting that alerts older than that are dropped): its markers are removed
 * when their alerts are sent. Expire `P attempts/` after a few days (e.g. 3): longer than the longest window plus
 * the time between runs; an attempt expired too early only makes a pattern across runs go unseen. Keep `P` outside `CloudTraces/` so that the trigger ignores the markers.
 *
 * Markers this version cannot parse: a sent marker counts as sent (its existence is the fact; never send twice);
 * an object marker counts as absent (the object is read again and the marker rewritten: the cost is one read);
 * a pending marker throws `LedgerUnreadableError` naming it (an alert cannot be rebuilt from it, and dropping it
 * silently would lose the alert). Any failed request throws `CtsAuditError` code `STATE` naming the ledger, the
 * marker and what failed.
 */
export class ObsLedger implements Ledger {
  private readonly prefix: string;
  private readonly clock: () => Date;
  private readonly limit: LimitFunction;
  private readonly inFlight = new Set<Promise<unknown>>();
  private state: "new" | "open" | "closed" = "new";
  private readOnly = false;
  private run: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly bucket: ObsBucket,
    prefix: string,
    options: ObsLedgerOptions = {},
  ) {
    this.prefix = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`;
    this.clock = options.clock ?? (() => new Date());
    this.limit = pLimit(options.concurrency ?? DEFAULT_CONCURRENCY);
  }

  get location(): string {
    return `obs://${this.bucket.name}/${this.prefix}`;
  }

  /** Takes no lock and sends no request (see the class comment); records the run for the markers it writes. */
  async open(options: LedgerOpenOptions): Promise<void> {
    if (this.state === "closed") throw this.error("open", "the ledger was closed; create a new ObsLedger");
    this.readOnly = options.readOnly ?? false;
    this.run = options.holder.run;
    this.state = "open";
  }

  async getObjects(
    unit: string,
    items: ReadonlyArray<{ key: string; fingerprint: string }>,
  ): Promise<Map<string, ObjectOutcome>> {
    this.assertOpen("getObjects");
    const folder = `${this.prefix}objects/${folderName(unit)}/`;
    const wanted = new Map(items.map((i) => [`${folder}${sha256(i.key)}.json`, i]));
    let toRead = [...wanted.keys()];
    if (wanted.size > DIRECT_LOOKUP_MAX) {
      const listed = await this.request(`listing ${folder}`, () => this.bucket.listAll(folder));
      const present = new Set(listed.map((o) => o.key));
      toRead = toRead.filter((m) => present.has(m));
    }
    const out = new Map<string, ObjectOutcome>();
    await Promise.all(
      toRead.map(async (marker) => {
        const text = await this.request(`reading ${marker}`, () => this.bucket.getText(marker));
        const item = wanted.get(marker)!;
        if (text === undefined) return;
        const body = parse(text) as Partial<ObjectMarker> | undefined;
        // Unreadable, from another version, or not this object's: absent, so the object is read again.
        if (!isRecord(body) || body.v !== VERSION || body.key !== item.key || !isOutcome(body.outcome))
          return;
        if (body.outcome.fingerprint === item.fingerprint) out.set(item.key, body.outcome);
      }),
    );
    return out;
  }

  /**
   * One PUT per object, all awaited: durable when it returns. Not all-or-none across objects (OBS has no
   * multi-object transaction), and it need not be: each marker is complete in itself, so after a partial failure
   * the ledger says that fewer objects completed, which only makes the rest be read again. Nothing is rolled back,
   * because a delete could remove the same marker just written by a concurrent run.
   */
  async putObjects(
    unit: string,
    outcomes: ReadonlyArray<readonly [key: string, outcome: ObjectOutcome]>,
  ): Promise<void> {
    if (!this.writable("putObjects")) return;
    const folder = `${this.prefix}objects/${folderName(unit)}/`;
    await this.track(
      outcomes.map(([key, outcome]) => {
        const marker = `${folder}${sha256(key)}.json`;
        const body: ObjectMarker = { v: VERSION, unit, key, run: this.run, outcome };
        return this.request(`writing ${marker}`, () => this.bucket.putText(marker, JSON.stringify(body)));
      }),
    );
  }

  /** One GET; a marker this version cannot read counts as absent (the unit is scanned and stored again). */
  async getUnit(unit: string): Promise<StoredUnit | undefined> {
    this.assertOpen("getUnit");
    const marker = `${this.prefix}units/${folderName(unit)}.json`;
    const text = await this.request(`reading ${marker}`, () => this.bucket.getText(marker));
    if (text === undefined) return undefined;
    const body = parse(text) as Partial<UnitMarker> | undefined;
    if (!isRecord(body) || body.v !== VERSION || body.unit !== unit || !isStoredUnit(body.stored))
      return undefined;
    return body.stored;
  }

  async putUnit(unit: string, stored: StoredUnit): Promise<void> {
    if (!this.writable("putUnit")) return;
    const marker = `${this.prefix}units/${folderName(unit)}.json`;
    const body: UnitMarker = { v: VERSION, unit, run: this.run, stored };
    await this.track([
      this.request(`writing ${marker}`, () => this.bucket.putText(marker, JSON.stringify(body))),
    ]);
  }

  async sent(sink: string, keys: readonly string[]): Promise<Set<string>> {
    this.assertOpen("sent");
    const folder = `${this.prefix}sent/${folderName(sink)}/`;
    const out = new Set<string>();
    await Promise.all(
      [...new Set(keys)].map(async (key) => {
        const marker = `${folder}${sha256(key)}.json`;
        // Existence is the fact: the body is not parsed, so a marker this version cannot read still counts.
        const text = await this.request(`reading ${marker}`, () => this.bucket.getText(marker));
        if (text !== undefined) out.add(key);
      }),
    );
    return out;
  }

  async markSent(sink: string, keys: readonly string[], messageId: string): Promise<void> {
    if (!this.writable("markSent")) return;
    const folder = `${this.prefix}sent/${folderName(sink)}/`;
    const at = this.clock().toISOString();
    await this.track(
      [...new Set(keys)].map((key) => {
        const marker = `${folder}${sha256(key)}.json`;
        const body = { v: VERSION, sink, key, messageId, run: this.run, at };
        return this.request(`writing ${marker}`, () => this.bucket.putText(marker, JSON.stringify(body)));
      }),
    );
  }

  /** Lists the sink's pending folder (only alerts not yet sent are there) and reads each marker. */
  async pending(sink: string): Promise<Alert[]> {
    this.assertOpen("pending");
    const folder = `${this.prefix}pending/${folderName(sink)}/`;
    const listed = await this.request(`listing ${folder}`, () => this.bucket.listAll(folder));
    const read = await Promise.all(
      listed.map(async ({ key: marker }) => {
        const text = await this.request(`reading ${marker}`, () => this.bucket.getText(marker));
        // Removed since the listing: sent by another run meanwhile.
        if (text === undefined) return undefined;
        const body = parse(text) as Partial<PendingMarker> | undefined;
        if (!isRecord(body) || body.v !== VERSION || !isAlert(body.alert))
          throw new LedgerUnreadableError(
            `ledger ${this.location}: pending alert marker ${marker} cannot be read (not a version ${VERSION} ` +
              `pending marker); nothing is sent to ${sink} until it is fixed: restore it from a backup, or ` +
              `delete it if the alert it held may be dropped`,
          );
        return body.alert;
      }),
    );
    return read.filter((a): a is Alert => a !== undefined);
  }

  /** One PUT per alert, by its alert key: nothing is listed, nothing deleted, so another run's are kept. */
  async addPending(sink: string, alerts: readonly Alert[]): Promise<void> {
    if (!this.writable("addPending")) return;
    const folder = `${this.prefix}pending/${folderName(sink)}/`;
    const at = this.clock().toISOString();
    const byKey = new Map(alerts.map((a) => [alertKey(a), a]));
    await this.track(
      [...byKey].map(([key, alert]) => {
        const marker = `${folder}${sha256(key)}.json`;
        const body: PendingMarker = { v: VERSION, sink, key, run: this.run, at, alert };
        return this.request(`writing ${marker}`, () => this.bucket.putText(marker, JSON.stringify(body)));
      }),
    );
  }

  /** One DELETE per given key, exactly those (a missing marker is fine: another run sent it). */
  async removePending(sink: string, keys: readonly string[]): Promise<void> {
    if (!this.writable("removePending")) return;
    const folder = `${this.prefix}pending/${folderName(sink)}/`;
    await this.track(
      [...new Set(keys)].map((key) => {
        const marker = `${folder}${sha256(key)}.json`;
        return this.request(`deleting ${marker}`, () => this.bucket.delete(marker));
      }),
    );
  }

  /** One marker per UTC day the attempts fall on (see the layout in the class comment). */
  async putAttempts(scope: string, attempts: readonly LoginAttempt[]): Promise<void> {
    if (!this.writable("putAttempts") || attempts.length === 0) return;
    const byDay = new Map<string, LoginAttempt[]>();
    for (const a of attempts) {
      const day = dayOf(a.time);
      if (day === undefined) continue;
      const list = byDay.get(day) ?? [];
      list.push(a);
      byDay.set(day, list);
    }
    const folder = `${this.prefix}attempts/${folderName(scope)}/`;
    await this.track(
      [...byDay].map(([day, list]) => {
        const times = list.map((a) => a.time);
        const marker = `${folder}${day}/${Math.min(...times)}-${Math.max(...times)}-${randomUUID()}.json`;
        const body: AttemptsMarker = { v: VERSION, scope, run: this.run, attempts: list };
        return this.request(`writing ${marker}`, () => this.bucket.putText(marker, JSON.stringify(body)));
      }),
    );
  }

  /** Lists the day folders of `[from, to)` only, and reads the markers whose span overlaps it. */
  async attempts(scope: string, from: number, to: number): Promise<LoginAttempt[]> {
    this.assertOpen("attempts");
    const first = dayOf(from);
    const last = dayOf(to - 1);
    if (!(from < to) || first === undefined || last === undefined) return [];
    const folder = `${this.prefix}attempts/${folderName(scope)}/`;
    const days: string[] = [];
    for (let t = Date.parse(`${first}T00:00:00Z`); dayOf(t)! <= last; t += DAY_MS) days.push(dayOf(t)!);
    const listed = (
      await Promise.all(
        days.map((day) =>
          this.request(`listing ${folder}${day}/`, () => this.bucket.listAll(`${folder}${day}/`)),
        ),
      )
    ).flat();
    const wanted = listed
      .map((o) => o.key)
      .filter((key) => {
        const span = /\/(\d+)-(\d+)-[^/]*\.json$/.exec(key);
        return span !== null && Number(span[1]) < to && Number(span[2]) >= from;
      });
    const read = await Promise.all(
      wanted.map(async (marker) => {
        const text = await this.request(`reading ${marker}`, () => this.bucket.getText(marker));
        if (text === undefined) return []; // expired since the listing
        const body = parse(text) as Partial<AttemptsMarker> | undefined;
        // Unreadable or from another version: its attempts are not used (a pattern across runs may go unseen,
        // nothing is sent twice or lost from the report of the run that found it).
        if (!isRecord(body) || body.v !== VERSION || !Array.isArray(body.attempts)) return [];
        return body.attempts.filter((a): a is LoginAttempt => isAttempt(a) && a.time >= from && a.time < to);
      }),
    );
    return distinctAttempts(read.flat());
  }

  /** One LIST per user (its folder holds at most a span and the capped countries and networks), then the GETs. */
  async getBaselines(userKeys: readonly string[]): Promise<Map<string, LocationBaseline>> {
    this.assertOpen("getBaselines");
    const now = this.clock().getTime();
    const out = new Map<string, LocationBaseline>();
    await Promise.all(
      [...new Set(userKeys)].map(async (user) => {
        const folder = `${this.prefix}baselines/${folderName(user)}/`;
        const listed = await this.request(`listing ${folder}`, () => this.bucket.listAll(folder));
        const markers = await Promise.all(
          listed.map(async ({ key: marker }) => {
            const text = await this.request(`reading ${marker}`, () => this.bucket.getText(marker));
            const body =
              text === undefined ? undefined : (parse(text) as Partial<BaselineMarker> | undefined);
            // Unreadable or another version's: that fact is unknown, which at worst alerts once more.
            return isBaselineMarker(body) && body.user === user && body.expiresAt >= now ? body : undefined;
          }),
        );
        const span = markers.find((m) => m?.kind === "span");
        if (!span) return;
        const baseline: LocationBaseline = {
          firstLogin: span.first,
          lastLogin: span.last,
          countries: {},
          asns: {},
        };
        for (const m of markers) {
          if (!m || m.kind === "span") continue;
          const sighting: Sighting = { first: m.first, last: m.last };
          if (m.kind === "country") baseline.countries[m.value] = sighting;
          else baseline.asns[m.value] = sighting;
        }
        out.set(user, baseline);
      }),
    );
    return out;
  }

  /** One PUT per fact of each baseline; nothing is deleted (dropped facts expire by the lifecycle rule). */
  async putBaselines(baselines: readonly StoredBaseline[]): Promise<void> {
    if (!this.writable("putBaselines")) return;
    const writes: Array<Promise<unknown>> = [];
    for (const { userKey: user, baseline, expiresAt } of baselines) {
      const folder = `${this.prefix}baselines/${folderName(user)}/`;
      const facts: Array<[string, BaselineMarker["kind"], string, Sighting]> = [
        ["span", "span", "", { first: baseline.firstLogin, last: baseline.lastLogin }],
        ...Object.entries(baseline.countries).map(
          ([c, s]) =>
            [`c-${folderName(c)}`, "country", c, s] as [string, BaselineMarker["kind"], string, Sighting],
        ),
        ...Object.entries(baseline.asns).map(
          ([a, s]) =>
            [`a-${folderName(a)}`, "asn", a, s] as [string, BaselineMarker["kind"], string, Sighting],
        ),
      ];
      for (const [name, kind, value, s] of facts) {
        const marker = `${folder}${name}.json`;
        const body: BaselineMarker = {
          v: VERSION,
          user,
          kind,
          value,
          first: s.first,
          last: s.last,
          expiresAt,
        };
        if (this.run) body.run = this.run;
        writes.push(
          this.request(`writing ${marker}`, () => this.bucket.putText(marker, JSON.stringify(body))),
        );
      }
    }
    await this.track(writes);
  }

  /**
   * Waits for every write in flight (a failed one has already rejected to its caller). Expiry is the bucket's
   * lifecycle rule (see the class comment) and there is no lock to release. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = "closed";
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
    })();
    return this.closing;
  }

  private assertOpen(what: string): void {
    if (this.state === "new") throw this.error(what, "the ledger is not open; call open() first");
    if (this.state === "closed") throw this.error(what, "the ledger is closed");
  }

  /** False in a read-only (dry) run: every write is skipped, nothing is created. */
  private writable(what: string): boolean {
    this.assertOpen(what);
    return !this.readOnly;
  }

  /** Awaits all writes of one call, each known to `close` until it settles (also when a sibling failed). */
  private async track(writes: Array<Promise<unknown>>): Promise<void> {
    for (const write of writes) {
      this.inFlight.add(write);
      const forget = () => this.inFlight.delete(write);
      write.then(forget, forget);
    }
    await Promise.all(writes);
  }

  /** One bucket request under the ledger's concurrency bound, its failure a STATE error naming the marker. */
  private request<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.limit(fn).catch((err: unknown) => {
      throw this.error(what, describeError(err), err);
    });
  }

  private error(what: string, why: string, cause?: unknown): CtsAuditError {
    return new CtsAuditError("STATE", `ledger ${this.location}: ${what} failed: ${why}`, { cause });
  }
}
