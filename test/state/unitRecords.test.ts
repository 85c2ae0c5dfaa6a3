/**
 * Units' replay records in both ledgers (Ledger.getUnit/putUnit, used by UnitReplay): one record per unit id,
 * replaced when stored again, kept byte for byte (a body is text with newlines and any character), never written
 * by a read-only run, expired with the other entries (LMDB), and a marker this version cannot read is absent (OBS).
 */
import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { folderName, ObsLedger } from "../../src/state/ObsLedger.js";
import type { Ledger, StoredUnit } from "../../src/state/types.js";
import { tempDir } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";
import { holderFor } from "./ledgerFixtures.js";

const DAY = 86_400_000;
const NOW = Date.parse("2026-11-30T00:00:00Z");
const UNIT = "CloudTraces/cn-north-4/2026-11-29";

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await S3TestServer.start(["ledger"]);
}, 60_000);
afterAll(() => s3.stop());

const bucket = () => new ObsBucket("ledger", { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 });

const stored = (body: string, at = new Date(NOW).toISOString()): StoredUnit => ({
  fingerprint: `fp-${body.length}`,
  body,
  at,
});

type Place = { open: (options?: { readOnly?: boolean; now?: number }) => Promise<Ledger> };
const kinds: Array<[string, () => Place]> = [
  [
    "LocalLedger",
    () => {
      const file = path.join(tempDir(), "ledger");
      return {
        open: async ({ readOnly = false, now = NOW } = {}) => {
          const l = new LocalLedger(file, { retentionMs: 30 * DAY, clock: () => new Date(now) });
          await l.open({ holder: holderFor(randomUUID()), readOnly, lockWaitMs: 200 });
          return l;
        },
      };
    },
  ],
  [
    "ObsLedger",
    () => {
      const prefix = `state/${randomUUID()}`;
      return {
        open: async ({ readOnly = false } = {}) => {
          const l = new ObsLedger(bucket(), prefix);
          await l.open({ holder: holderFor(randomUUID()), readOnly });
          return l;
        },
      };
    },
  ],
];

describe.each(kinds)("%s: units' replay records", (_, place) => {
  it.each([
    ["plain JSON lines", '{"v":1}\n{"files":[]}\n[]\nnull'],
    ["characters beyond ASCII and beyond U+FFFF", '{"key":"CloudTraces/ré/日本/😀"}\n\n'],
    ["an empty body", ""],
  ])("keeps a body byte for byte (%s), replaced when the unit is stored again", async (_name, body) => {
    const p = place();
    const l = await p.open();
    expect(await l.getUnit(UNIT)).toBeUndefined();
    await l.putUnit(UNIT, stored("first"));
    await l.putUnit(UNIT, stored(body));
    await l.putUnit(`${UNIT}#1`, stored("the second part"));
    await l.close();
    const again = await p.open();
    expect(await again.getUnit(UNIT)).toEqual(stored(body));
    expect((await again.getUnit(`${UNIT}#1`))?.body).toBe("the second part");
    expect(await again.getUnit("CloudTraces/cn-north-4/2026-11-28")).toBeUndefined();
    await again.close();
  });

  it("a read-only (dry) run reads records and writes none", async () => {
    const p = place();
    const l = await p.open();
    await l.putUnit(UNIT, stored("kept"));
    await l.close();
    const dry = await p.open({ readOnly: true });
    expect((await dry.getUnit(UNIT))?.body).toBe("kept");
    if (dry instanceof LocalLedger) await expect(dry.putUnit(UNIT, stored("not kept"))).rejects.toThrow();
    else await dry.putUnit(UNIT, stored("not kept"));
    await dry.close();
    const after = await p.open();
    expect((await after.getUnit(UNIT))?.body).toBe("kept");
    await after.close();
  });
});

describe("LocalLedger: units' replay records expire", () => {
  it("with the retention, counted from when each was stored (a record stored again later stays)", async () => {
    const p = kinds[0]![1]();
    const l = await p.open();
    await l.putUnit(UNIT, stored("old", new Date(NOW - 40 * DAY).toISOString()));
    await l.putUnit(`${UNIT}#1`, stored("old", new Date(NOW - 40 * DAY).toISOString()));
    await l.putUnit(`${UNIT}#1`, stored("renewed", new Date(NOW - DAY).toISOString()));
    await l.close();
    const after = await p.open();
    expect(await after.getUnit(UNIT)).toBeUndefined();
    expect((await after.getUnit(`${UNIT}#1`))?.body).toBe("renewed");
    await after.close();
  });
});

describe("ObsLedger: one marker per unit", () => {
  it.each([
    ["not JSON", "{"],
    ["another version", JSON.stringify({ v: 99, unit: UNIT, stored: stored("x") })],
    ["another unit's", JSON.stringify({ v: 1, unit: `${UNIT}x`, stored: stored("x") })],
    ["no fingerprint", JSON.stringify({ v: 1, unit: UNIT, stored: { body: "x", at: "" } })],
  ])("a marker this version cannot read (%s) is absent: the unit is scanned again", async (_name, text) => {
    const prefix = `state/${randomUUID()}`;
    await bucket().putText(`${prefix}/units/${folderName(UNIT)}.json`, text);
    const l = new ObsLedger(bucket(), prefix);
    await l.open({ holder: holderFor("r") });
    expect(await l.getUnit(UNIT)).toBeUndefined();
    await l.putUnit(UNIT, stored("now"));
    expect((await l.getUnit(UNIT))?.body).toBe("now");
    expect(await bucket().listAll(`${prefix}/units/`)).toHaveLength(1);
    await l.close();
  });
});
