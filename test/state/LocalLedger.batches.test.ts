import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { open as openLmdb } from "lmdb";
import { describe, expect, it } from "vitest";
import { LedgerUnreadableError } from "../../src/errors.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import type { ObjectOutcome } from "../../src/state/types.js";
import { tempDir } from "../support/harness.js";
import { holderFor, outcomeFor } from "./ledgerFixtures.js";

// The ledger keeps a unit's completed objects as one value per putObjects call (a batch), and still reads (and
// sweeps) the one-entry-per-object format of ledgers written before.

const DAY = 86_400_000;
const OCT = "2026-10-01T00:00:00.000Z";
const NOV = "2026-11-01T00:00:00.000Z";
const STRUCTURES = Symbol.for("structures");

function ledgerFile(): string {
  return path.join(tempDir(), "ledger");
}

async function opened(
  file: string,
  options: { run?: string; now?: string; retentionMs?: number; readOnly?: boolean } = {},
): Promise<LocalLedger> {
  const clock = () => new Date(options.now ?? "2026-11-02T00:00:00.000Z");
  const ledger = new LocalLedger(file, { retentionMs: options.retentionMs ?? 30 * DAY, clock });
  await ledger.open({
    holder: holderFor(options.run ?? randomUUID()),
    lockWaitMs: 200,
    readOnly: options.readOnly === true,
  });
  return ledger;
}

const keysOf = (unit: string, n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `${unit}/k${from + i}`);
const ask = (keys: readonly string[], over: Partial<ObjectOutcome> = {}) =>
  keys.map((key) => ({ key, fingerprint: outcomeFor(key, over).fingerprint }));
const rows = (keys: readonly string[], over: Partial<ObjectOutcome> = {}) =>
  keys.map((k) => [k, outcomeFor(k, over)] as const);

/**
 * A ledger as the code before batches wrote it: the sub-databases it opened (no `object-batches`), the format
 * record, and each object an entry `[unit, key]` with a "U" expiry entry per distinct time of a write.
 */
async function writeOldLedger(
  file: string,
  objects: ReadonlyArray<readonly [unit: string, key: string, outcome: ObjectOutcome]>,
  meta: Record<string, unknown> = {},
): Promise<void> {
  const env = openLmdb({ path: file, noSubdir: true, maxDbs: 16 });
  const metaDb = env.openDB({ name: "meta" });
  const store = env.openDB<ObjectOutcome, [string, string]>({
    name: "objects",
    sharedStructuresKey: STRUCTURES,
  });
  const expiry = env.openDB({ name: "expiry" });
  for (const name of ["sent", "pending", "attempts"]) env.openDB({ name, sharedStructuresKey: STRUCTURES });
  env.openDB({ name: "unit-replays", encoding: "binary", compression: true });
  for (const name of ["legacy-objects", "legacy-sent", "legacy-pending"]) env.openDB({ name });
  await metaDb.transaction(() => {
    metaDb.put("format", { version: 2, createdAt: "2026-09-01T00:00:00.000Z" });
    for (const [k, v] of Object.entries(meta)) metaDb.put(k, v);
    for (const [unit, key, outcome] of objects) {
      store.put([unit, key], outcome);
      expiry.put([Date.parse(outcome.at), "U", unit, randomUUID()], true);
    }
  });
  await env.close();
}

/** The value of a key of the ledger's `meta` database (read directly). */
async function metaOf(file: string, key: string): Promise<unknown> {
  const env = openLmdb({ path: file, noSubdir: true, maxDbs: 16, readOnly: true });
  try {
    return env.openDB({ name: "meta" }).get(key);
  } finally {
    await env.close();
  }
}

/** What the file holds in a named database (read directly), undefined when it has none. */
async function entriesOf(file: string, name: string): Promise<number | undefined> {
  const env = openLmdb({ path: file, noSubdir: true, maxDbs: 16, readOnly: true });
  try {
    const db = env.openDB({ name, sharedStructuresKey: STRUCTURES }) as
      ReturnType<typeof env.openDB> | undefined;
    return db?.getKeysCount();
  } finally {
    await env.close();
  }
}

describe("LocalLedger: objects in batches", () => {
  it.each([
    { name: "few keys asked (stops at the newest batch)", asked: 3 },
    { name: "many keys asked (the whole unit)", asked: 150 },
  ])(
    "a call is one value, and a key written in two batches returns the newer outcome: $name",
    async ({ asked }) => {
      const file = ledgerFile();
      const keys = keysOf("u", asked);
      const first = await opened(file);
      await first.putObjects("u", rows(keys));
      expect(await entriesOf(file, "object-batches")).toBe(1);
      expect(await entriesOf(file, "objects")).toBe(0);
      // Newer outcomes of every other key: a new fingerprint (asked with the old one: not found) or new rules.
      const changed = keys.filter((_, i) => i % 2 === 0);
      await first.putObjects(
        "u",
        changed.map(
          (k, i) => [k, outcomeFor(k, i % 2 ? { rules: "rules-2" } : { fingerprint: '"new"' })] as const,
        ),
      );
      await first.close();

      // Read after reopening, and by a second writer whose batches continue the sequence.
      const second = await opened(file);
      const newFingerprint = changed.filter((_, i) => i % 2 === 0);
      const newRules = changed.filter((_, i) => i % 2 === 1);
      const got = await second.getObjects("u", ask(keys));
      expect([...got.keys()].sort()).toEqual(keys.filter((k) => !newFingerprint.includes(k)).sort());
      for (const k of newRules) expect(got.get(k)).toEqual(outcomeFor(k, { rules: "rules-2" }));
      const again = await second.getObjects("u", ask(newFingerprint, { fingerprint: '"new"' }));
      expect(again.size).toBe(newFingerprint.length);
      // A third write, with an older time than the second (another host's clock): written last, it wins.
      await second.putObjects("u", rows(newFingerprint, { at: OCT, rules: "rules-3" }));
      const third = await second.getObjects("u", ask(newFingerprint));
      expect(third.size).toBe(newFingerprint.length);
      for (const k of newFingerprint)
        expect(third.get(k)).toEqual(outcomeFor(k, { at: OCT, rules: "rules-3" }));
      expect(await second.countObjects()).toBe(keys.length);
      await second.close();
    },
  );

  it("keeps each outcome's own rules and time when a call mixes them; a neighbour unit's batches stay apart", async () => {
    const file = ledgerFile();
    const year = { retentionMs: 365 * DAY };
    const ledger = await opened(file, year);
    const mixed = [
      ["u/a", outcomeFor("u/a")],
      ["u/b", outcomeFor("u/b", { rules: "rules-2" })],
      ["u/c", outcomeFor("u/c", { at: OCT })],
      ["u/d", outcomeFor("u/d", { rules: "rules-2", at: OCT })],
      ["u/e", outcomeFor("u/e")],
    ] as const;
    // Units whose ids start with this one's, or sort right before it: their batches are not this unit's.
    await ledger.putObjects("u2", rows(["u/a", "u/b"], { rules: "neighbour" }));
    await ledger.putObjects("u#1", rows(["u/a"], { rules: "neighbour" }));
    await ledger.putObjects("t", rows(["u/a"], { rules: "neighbour" }));
    await ledger.putObjects("u", mixed);
    await ledger.close();
    // One value per distinct (rules, at) of the call.
    expect(await entriesOf(file, "object-batches")).toBe(3 + 4);
    const check = await opened(file, year);
    const got = await check.getObjects("u", ask(mixed.map(([k]) => k)));
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(mixed));
    await check.close();
  });

  it("the function's pattern: hundreds of one-object batches of one unit, every object found", async () => {
    const file = ledgerFile();
    const keys = keysOf("CloudTraces/r/2026/11/01", 300);
    const ledger = await opened(file);
    for (const key of keys) await ledger.putObjects("CloudTraces/r/2026/11/01", rows([key]));
    expect((await ledger.getObjects("CloudTraces/r/2026/11/01", ask(keys))).size).toBe(keys.length);
    await ledger.close();
    const again = await opened(file);
    // One at a time (the function asks for one object), the oldest and the newest included.
    for (const key of [keys[0]!, keys[150]!, keys[299]!]) {
      const got = await again.getObjects("CloudTraces/r/2026/11/01", ask([key]));
      expect(got.get(key)).toEqual(outcomeFor(key));
    }
    expect((await again.getObjects("CloudTraces/r/2026/11/01", ask(keys))).size).toBe(keys.length);
    expect(await again.countObjects()).toBe(keys.length);
    await again.close();
  });
});

describe("LocalLedger: a ledger written before batches", () => {
  it.each([
    { name: "a few keys (looked up one by one)", n: 5 },
    { name: "many keys (the unit's range)", n: 120 },
  ])("reads its per-key entries, and a batch written later overrides them: $name", async ({ n }) => {
    const file = ledgerFile();
    const keys = keysOf("u", n);
    await writeOldLedger(file, [
      ...keys.map((k) => ["u", k, outcomeFor(k)] as const),
      ["v", "v/x", outcomeFor("v/x")],
    ]);
    const ledger = await opened(file);
    const got = await ledger.getObjects("u", ask(keys));
    expect(got.size).toBe(n);
    for (const k of keys) expect(got.get(k)).toEqual(outcomeFor(k));
    // Rewritten: the first key with a new fingerprint, the second under new rules.
    await ledger.putObjects("u", [
      [keys[0]!, outcomeFor(keys[0]!, { fingerprint: '"new"' })],
      [keys[1]!, outcomeFor(keys[1]!, { rules: "rules-2" })],
    ]);
    await ledger.close();
    const again = await opened(file);
    const after = await again.getObjects("u", ask(keys));
    expect(after.has(keys[0]!)).toBe(false);
    expect(after.get(keys[1]!)).toEqual(outcomeFor(keys[1]!, { rules: "rules-2" }));
    expect(after.size).toBe(n - 1);
    expect((await again.getObjects("u", ask([keys[0]!], { fingerprint: '"new"' }))).size).toBe(1);
    expect((await again.getObjects("v", ask(["v/x"]))).size).toBe(1);
    // Distinct keys: the two rewritten ones are in a batch and an old entry, and count once.
    expect(await again.countObjects()).toBe(n + 1);
    await again.close();
  });

  it("opens read only without the batches' database (and creates none), then a writable open adds it", async () => {
    const file = ledgerFile();
    await writeOldLedger(file, [["u", "u/a", outcomeFor("u/a")]]);
    const before = readFileSync(file);
    const ro = await opened(file, { readOnly: true });
    expect((await ro.getObjects("u", ask(["u/a", "u/b"]))).size).toBe(1);
    expect((await ro.getObjects("u", ask(keysOf("u", 100)))).size).toBe(0);
    expect(await ro.countObjects()).toBe(1);
    await expect(ro.putObjects("u", rows(["u/b"]))).rejects.toMatchObject({ code: "STATE" });
    await ro.close();
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(await entriesOf(file, "object-batches")).toBeUndefined();
    expect(await metaOf(file, "object-batches")).toBeUndefined();

    const writer = await opened(file);
    await writer.putObjects("u", rows(["u/b"]));
    await writer.close();
    expect(await entriesOf(file, "object-batches")).toBe(1);
    // From now on the ledger says it has batches: a read-only open that misses them is not a ledger without any.
    expect(await metaOf(file, "object-batches")).toBe(true);
    const ro2 = await opened(file, { readOnly: true });
    expect([...(await ro2.getObjects("u", ask(["u/a", "u/b"]))).keys()].sort()).toEqual(["u/a", "u/b"]);
    await ro2.close();
  });
});

describe("LocalLedger: a ledger that says it has batches", () => {
  it("but whose batches' database is missing reads as unreadable (read only), naming it", async () => {
    const file = ledgerFile();
    await writeOldLedger(file, [["u", "u/a", outcomeFor("u/a")]], { "object-batches": true });
    const ro = new LocalLedger(file, { retentionMs: DAY });
    const err = await ro.open({ holder: holderFor("dry"), readOnly: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerUnreadableError);
    expect((err as Error).message).toContain("lacks object-batches");
    expect((err as Error).message).toContain(file);
  });

  it("a new ledger says so from its first writable open", async () => {
    const file = ledgerFile();
    await (await opened(file)).close();
    expect(await metaOf(file, "object-batches")).toBe(true);
    expect(await entriesOf(file, "object-batches")).toBe(0);
  });
});

describe("LocalLedger: retention of batches", () => {
  it("the sweep removes batches and old per-key entries past retention, and keeps the newer ones", async () => {
    const file = ledgerFile();
    // Per-key entries of October and November, written by the code before batches.
    await writeOldLedger(file, [
      ["u", "u/old-entry", outcomeFor("u/old-entry", { at: OCT })],
      ["u", "u/new-entry", outcomeFor("u/new-entry", { at: NOV })],
      ["u", "u/rewritten", outcomeFor("u/rewritten", { at: OCT })],
    ]);
    const october = await opened(file, { now: OCT, retentionMs: 10 * DAY });
    await october.putObjects("u", rows(["u/old-batch", "u/twice"], { at: OCT }));
    await october.putObjects("u#1", rows(["u/next-old"], { at: OCT }));
    // One call with an old and a new time: two batches, each as old as its own time.
    await october.putObjects("u#2", [
      ["u/mixed-old", outcomeFor("u/mixed-old", { at: OCT })],
      ["u/mixed-new", outcomeFor("u/mixed-new", { at: NOV })],
    ]);
    await october.close(); // nothing is due yet (1 October minus 10 days)
    expect(await entriesOf(file, "object-batches")).toBe(4);

    const november = await opened(file, { now: NOV, retentionMs: 10 * DAY });
    await november.putObjects("u", rows(["u/new-batch", "u/twice", "u/rewritten"], { at: NOV }));
    await november.close(); // 1 November minus 10 days: October's go

    expect(await entriesOf(file, "object-batches")).toBe(2);
    expect(await entriesOf(file, "objects")).toBe(1);
    const check = await opened(file, { now: NOV, retentionMs: 10 * DAY });
    const u = await check.getObjects(
      "u",
      ask(["u/old-entry", "u/new-entry", "u/rewritten", "u/old-batch", "u/twice", "u/new-batch"]),
    );
    expect([...u.keys()].sort()).toEqual(["u/new-batch", "u/new-entry", "u/rewritten", "u/twice"]);
    expect(u.get("u/twice")?.at).toBe(NOV);
    expect((await check.getObjects("u#1", ask(["u/next-old"]))).size).toBe(0);
    expect([...(await check.getObjects("u#2", ask(["u/mixed-old", "u/mixed-new"]))).keys()]).toEqual([
      "u/mixed-new",
    ]);
    expect(await check.countObjects()).toBe(5);
    await check.close();
    // Nothing of October is left in the time index either.
    const env = openLmdb({ path: file, noSubdir: true, maxDbs: 16, readOnly: true });
    const expiry = env.openDB<true, [number, string, ...string[]]>({ name: "expiry" });
    const left = [...expiry.getKeys({})].map((k) => k[0]);
    await env.close();
    expect(left.filter((t) => t <= Date.parse(NOV) - 10 * DAY)).toEqual([]);
  });
});
