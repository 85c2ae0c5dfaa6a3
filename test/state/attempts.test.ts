import path from "node:path";
import { randomUUID } from "node:crypto";
import { open as openLmdb } from "lmdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { folderName, ObsLedger } from "../../src/state/ObsLedger.js";
import type { Ledger } from "../../src/state/types.js";
import { at, MIDNIGHT, MIN } from "../detect/windowCorpus.js";
import { tempDir } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";
import { holderFor } from "./ledgerFixtures.js";

const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const SCOPE = "CloudTraces/cn-north-4";
const ids = (xs: readonly LoginAttempt[]) => xs.map((a) => a.traceId).sort();

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await S3TestServer.start(["ledger"]);
}, 60_000);
afterAll(() => s3.stop());

const bucket = () => new ObsBucket("ledger", { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 });

/** Opens the local ledger at `file` as of `now` (attempts kept 2 days, the rest 30). */
const localAt = (file: string) => async (now: number) => {
  const l = new LocalLedger(file, {
    retentionMs: 30 * DAY,
    attemptRetentionMs: 2 * DAY,
    clock: () => new Date(now),
  });
  await l.open({ holder: holderFor(randomUUID()), lockWaitMs: 200 });
  return l;
};

/** Opens a ledger of each kind at a place of its own; `again` opens another at the same place. */
const kinds: Array<[string, () => { open: (now?: number) => Promise<Ledger> }]> = [
  [
    "LocalLedger",
    () => {
      const open = localAt(path.join(tempDir(), "ledger"));
      return { open: (now = MIDNIGHT) => open(now) };
    },
  ],
  [
    "ObsLedger",
    () => {
      const prefix = `state/${randomUUID()}`;
      return {
        open: async () => {
          const l = new ObsLedger(bucket(), prefix);
          await l.open({ holder: holderFor(randomUUID()) });
          return l;
        },
      };
    },
  ],
];

describe.each(kinds)("%s: login attempts by time", (_, place) => {
  it("reads exactly the attempts of a scope in [from, to), across days, kept by earlier runs", async () => {
    const p = place();
    const first = await p.open();
    const a = [at(-90, "u", "203.0.113.1"), at(-1, "u", "203.0.113.1"), at(0, "u", "203.0.113.1")];
    const b = [at(30, "v", "203.0.113.2"), at(25 * 60, "v", "203.0.113.2")];
    await first.putAttempts(SCOPE, a);
    await first.putAttempts("CloudTraces/eu-west-0", [at(5, "w", "203.0.113.3")]);
    await first.close();
    const second = await p.open();
    await second.putAttempts(SCOPE, b);
    await second.putAttempts(SCOPE, []);
    expect(ids(await second.attempts(SCOPE, MIDNIGHT - HOUR, MIDNIGHT + HOUR))).toEqual(
      ids([a[1]!, a[2]!, b[0]!]),
    );
    expect(ids(await second.attempts(SCOPE, MIDNIGHT - 2 * HOUR, MIDNIGHT))).toEqual(ids([a[0]!, a[1]!]));
    expect(ids(await second.attempts(SCOPE, MIDNIGHT, MIDNIGHT + 2 * DAY))).toEqual(ids([a[2]!, ...b]));
    expect(await second.attempts(SCOPE, MIDNIGHT + 2 * DAY, MIDNIGHT + 3 * DAY)).toEqual([]);
    expect(await second.attempts(SCOPE, MIDNIGHT, MIDNIGHT)).toEqual([]);
    const [kept] = await second.attempts(SCOPE, a[0]!.time, a[0]!.time + 1);
    expect(kept).toEqual(a[0]);
    await second.close();
  });

  it("an attempt kept again by a later run (its object read again) is read once, in time order", async () => {
    const p = place();
    const one = [at(50, "u", "203.0.113.1"), at(10, "v", "203.0.113.2"), at(70, "w", "203.0.113.3")];
    const first = await p.open();
    await first.putAttempts(SCOPE, one);
    await first.close();
    const second = await p.open();
    await second.putAttempts(SCOPE, [one[0]!, at(20, "x", "203.0.113.4")]);
    const read = await second.attempts(SCOPE, MIDNIGHT, MIDNIGHT + 2 * HOUR);
    expect(read.map((a) => a.time)).toEqual([10, 20, 50, 70].map((m) => MIDNIGHT + m * MIN));
    await second.close();
  });

  it("a dry run (read only) reads the attempts and writes none", async () => {
    const p = place();
    const w = await p.open();
    await w.putAttempts(SCOPE, [at(1, "u", "203.0.113.1")]);
    await w.close();
    const ro = await p.open();
    await ro.close();
    expect(await readOnly(ro, SCOPE)).toHaveLength(1);
  });
});

/** Opens the same place read only, tries to write an attempt, and reads the day's. */
async function readOnly(l: Ledger, scope: string): Promise<LoginAttempt[]> {
  const ro =
    l instanceof LocalLedger
      ? new LocalLedger(l.location, { retentionMs: DAY })
      : new ObsLedger(bucket(), l.location.replace(/^obs:\/\/ledger\//, ""));
  await ro.open({ holder: holderFor(randomUUID()), readOnly: true });
  try {
    const write = ro.putAttempts(scope, [at(2, "v", "203.0.113.2")]);
    // The local ledger refuses a write in a read-only open; the OBS ledger skips it (it takes no lock to refuse).
    if (l instanceof LocalLedger) await expect(write).rejects.toThrow(/read only/);
    else await write;
    return await ro.attempts(scope, MIDNIGHT, MIDNIGHT + DAY);
  } finally {
    await ro.close();
  }
}

describe("LocalLedger: attempts expire after their retention, objects keep theirs", () => {
  it("drops attempts written more than attemptRetentionMs ago when closed", async () => {
    const file = path.join(tempDir(), "ledger");
    const open = localAt(file);
    const l1 = await open(MIDNIGHT);
    await l1.putAttempts(SCOPE, [at(1, "u", "203.0.113.1")]);
    await l1.close();
    const l2 = await open(MIDNIGHT + 2 * DAY - HOUR);
    await l2.putAttempts(SCOPE, [at(2, "u", "203.0.113.1")]);
    await l2.close(); // the first is not yet due
    const l3 = await open(MIDNIGHT + 2 * DAY + HOUR);
    expect(await l3.attempts(SCOPE, MIDNIGHT, MIDNIGHT + HOUR)).toHaveLength(2);
    await l3.close(); // the first is due now, the second not
    const l4 = await open(MIDNIGHT + 2 * DAY + 2 * HOUR);
    expect(ids(await l4.attempts(SCOPE, MIDNIGHT, MIDNIGHT + HOUR))).toHaveLength(1);
    await l4.close();
  });

  it("reads and drops attempts kept one an entry, as ledgers written before hours kept them", async () => {
    const file = path.join(tempDir(), "ledger");
    const open = localAt(file);
    await (await open(MIDNIGHT)).close(); // a ledger of this version, then entries in the former layout
    const old = [at(5, "u", "203.0.113.1"), at(65, "v", "203.0.113.2")];
    const env = openLmdb({ path: file, noSubdir: true, maxDbs: 12 });
    const store = env.openDB({ name: "attempts", sharedStructuresKey: Symbol.for("structures") });
    const expiry = env.openDB({ name: "expiry" });
    const due = MIDNIGHT + 2 * DAY - 30 * DAY;
    for (const a of old) {
      await store.put([SCOPE, a.time, a.traceId], a);
      await expiry.put([due, "a", SCOPE, String(a.time), a.traceId], true);
    }
    await env.close();
    const l1 = await open(MIDNIGHT);
    const now = at(30, "w", "203.0.113.3");
    await l1.putAttempts(SCOPE, [now]);
    expect((await l1.attempts(SCOPE, MIDNIGHT + MIN, MIDNIGHT + 2 * HOUR)).map((a) => a.traceId)).toEqual(
      [old[0]!, now, old[1]!].map((a) => a.traceId),
    );
    expect(await l1.attempts(SCOPE, MIDNIGHT + 6 * MIN, MIDNIGHT + 64 * MIN)).toHaveLength(1);
    await l1.close();
    const l2 = await open(MIDNIGHT + 2 * DAY + HOUR);
    await l2.close(); // every one of them is due
    const l3 = await open(MIDNIGHT + 2 * DAY + 2 * HOUR);
    expect(await l3.attempts(SCOPE, 0, MIDNIGHT + DAY)).toEqual([]);
    await l3.close();
  });

  it("a ledger made before attempts were kept opens read only and has none", async () => {
    const file = path.join(tempDir(), "ledger");
    const env = openLmdb({ path: file, noSubdir: true, maxDbs: 12 });
    await env
      .openDB({ name: "meta" })
      .put("format", { version: 2, createdAt: new Date(MIDNIGHT).toISOString() });
    const before = [
      "objects",
      "sent",
      "pending",
      "expiry",
      "legacy-objects",
      "legacy-sent",
      "legacy-pending",
    ];
    for (const name of before) await env.openDB({ name }).put("x", "y");
    await env.close();
    const ro = new LocalLedger(file, { retentionMs: DAY });
    await ro.open({ holder: holderFor(randomUUID()), readOnly: true });
    expect(await ro.attempts(SCOPE, 0, Date.now())).toEqual([]);
    await ro.close();
  });
});

describe("ObsLedger: a time range lists only its day folders and reads only overlapping markers", () => {
  it("one LIST a day touched, one GET a marker whose span overlaps", async () => {
    const b = bucket();
    const prefix = `state/${randomUUID()}`;
    const l = new ObsLedger(b, prefix);
    await l.open({ holder: holderFor("w") });
    // Three markers on the first day (early, late) and the next day.
    await l.putAttempts(SCOPE, [at(-20 * 60, "u", "203.0.113.1")]);
    await l.putAttempts(SCOPE, [at(-30, "u", "203.0.113.1"), at(-10, "u", "203.0.113.1")]);
    await l.putAttempts(SCOPE, [at(10, "u", "203.0.113.1")]);
    const before = { ...b.requests };
    const found = await l.attempts(SCOPE, MIDNIGHT - 2 * HOUR, MIDNIGHT + HOUR);
    expect(found).toHaveLength(3);
    expect(b.requests.list - before.list).toBe(2);
    expect(b.requests.get - before.get).toBe(2);
    // Markers are per write: two writers of the same day never overwrite each other.
    const other = new ObsLedger(bucket(), prefix);
    await other.open({ holder: holderFor("x") });
    await other.putAttempts(SCOPE, [at(-10, "z", "203.0.113.9")]);
    expect(await l.attempts(SCOPE, MIDNIGHT - HOUR, MIDNIGHT)).toHaveLength(3);
    const listed = await b.listAll(`${prefix}/attempts/${folderName(SCOPE)}/2024-07-19/`);
    expect(listed).toHaveLength(3);
    await Promise.all([l.close(), other.close()]);
  });

  it("a marker it cannot read (another version, not JSON) is skipped, the others still read", async () => {
    const b = bucket();
    const prefix = `state/${randomUUID()}`;
    const l = new ObsLedger(b, prefix);
    await l.open({ holder: holderFor("w") });
    await l.putAttempts(SCOPE, [at(10, "u", "203.0.113.1")]);
    const folder = `${prefix}/attempts/${folderName(SCOPE)}/2024-07-20/`;
    const t = MIDNIGHT + 5 * MIN;
    await b.putText(`${folder}${t}-${t}-x.json`, "not json");
    await b.putText(`${folder}${t}-${t}-y.json`, JSON.stringify({ v: 99, attempts: [] }));
    expect(await l.attempts(SCOPE, MIDNIGHT, MIDNIGHT + HOUR)).toHaveLength(1);
    await l.close();
  });
});
