import path from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import { LedgerPolicy } from "../../src/engine/LedgerPolicy.js";
import type { Unit } from "../../src/engine/units.js";
import { WindowCarry } from "../../src/engine/WindowCarry.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { alertKey } from "../../src/state/alertKey.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { ObsLedger } from "../../src/state/ObsLedger.js";
import type { Ledger } from "../../src/state/types.js";
import { at, canonical, every, MIDNIGHT, MIN, plantedCorpus, SETTINGS } from "../detect/windowCorpus.js";
import { tempDir } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

const SERIES = "CloudTraces/cn-north-4";
const unitOf = (day: string): Unit => ({ id: `${SERIES}/${day}`, series: SERIES, objects: [] });
const DAY1 = unitOf("2024-07-19");
const DAY2 = unitOf("2024-07-20");
const before = (xs: LoginAttempt[]) => xs.filter((a) => a.time < MIDNIGHT);
const after = (xs: LoginAttempt[]) => xs.filter((a) => a.time >= MIDNIGHT);
const keys = (alerts: ReadonlyArray<Parameters<typeof alertKey>[0]>) => alerts.map(alertKey).sort();

/** One run: a ledger opened through the engine's policy, units settled in order, the alerts "sent" (marked). */
async function run(
  ledger: Ledger | undefined,
  units: Array<[Unit, LoginAttempt[]]>,
  now = "2024-07-21T03:00:00Z",
) {
  const failed: string[] = [];
  const policy = new LedgerPolicy(
    ledger,
    "rules",
    true,
    (m) => failed.push(m),
    () => new Date(now),
  );
  await policy.open({ run: randomUUID(), pid: process.pid, host: "test", startedAt: now, command: "test" });
  const carry = new WindowCarry(SETTINGS, ledger ? policy : undefined);
  for (const [unit, attempts] of units) await carry.settle(unit, attempts);
  const alerts = carry.finishAll();
  const already = ledger ? await ledger.sent("smn", keys(alerts)) : new Set<string>();
  const fresh = alerts.filter((a) => !already.has(alertKey(a)));
  if (ledger && fresh.length > 0) await ledger.markSent("smn", keys(fresh), `msg-${now}`);
  await policy.close();
  expect(failed).toEqual([]);
  return { alerts, fresh };
}

describe("windows across units (midnight), no ledger", () => {
  it("two day units give the alerts of one pass over all attempts, patterns across midnight included", async () => {
    const { attempts } = plantedCorpus();
    const one = await run(undefined, [[DAY2, attempts]]);
    const two = await run(undefined, [
      [DAY1, before(attempts).reverse()],
      [DAY2, after(attempts).reverse()],
    ]);
    expect(canonical(two.alerts)).toEqual(canonical(one.alerts));
    // Four of the corpus' patterns straddle midnight.
    expect(
      two.alerts.filter((a) => Date.parse(a.evidence!.first) < MIDNIGHT && Date.parse(a.time) >= MIDNIGHT),
    ).toHaveLength(4);
  });

  it("another series is finished when the listing moves on: its alerts are kept", async () => {
    const other: Unit = {
      id: "CloudTraces/eu-west-0/2024-07-19",
      series: "CloudTraces/eu-west-0",
      objects: [],
    };
    const burst = every(-30, 1, 4).map((m) => at(m, "eu", "198.51.100.200"));
    const { alerts } = await run(undefined, [
      [other, burst],
      [DAY1, []],
    ]);
    expect(alerts.map((a) => a.evidence?.group)).toEqual(["user:corp/eu"]);
  });
});

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await S3TestServer.start(["ledger"]);
}, 60_000);
afterAll(() => s3.stop());

const ledgers: Array<[string, () => Ledger]> = [
  ["LocalLedger", () => new LocalLedger(path.join(tempDir(), "ledger"), { retentionMs: 30 * 24 * 60 * MIN })],
  [
    "ObsLedger",
    () =>
      new ObsLedger(
        new ObsBucket("ledger", { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 }),
        `state/${randomUUID()}`,
      ),
  ],
];

describe.each(ledgers)("windows across two nightly runs with a %s", (_, make) => {
  it("a spray (and every pattern) straddling the runs is found once; nothing is sent twice", async () => {
    const { attempts } = plantedCorpus();
    const single = await run(undefined, [[DAY2, attempts]]);
    const ledger = make();
    const night1 = await run(ledger, [[DAY1, before(attempts)]], "2024-07-20T03:00:00Z");
    const night2 = await run(reopen(ledger), [[DAY2, after(attempts)]]);
    // Together the two runs raise exactly the single pass' alerts, each once.
    expect([...keys(night1.fresh), ...keys(night2.fresh)].sort()).toEqual(keys(single.alerts));
    expect(keys(night2.alerts).filter((k) => keys(night1.alerts).includes(k))).toEqual([]);
    const spray = night2.fresh.find((a) => a.evidence?.group === "ip:203.0.113.20");
    expect(spray?.evidence?.count).toBe(3);
  });

  it("a rerun of the second night (its objects reused: attempts come from the ledger) sends nothing again", async () => {
    const { attempts } = plantedCorpus();
    const ledger = make();
    await run(ledger, [[DAY1, before(attempts)]], "2024-07-20T03:00:00Z");
    const first = await run(reopen(ledger), [[DAY2, after(attempts)]]);
    const again = await run(reopen(ledger), [[DAY2, []]]);
    expect(keys(again.alerts)).toEqual(keys(first.alerts));
    expect(again.fresh).toEqual([]);
  });
});

/** One function invocation: one file's attempts, a unit of its day, the ledger read around them. */
async function invoke(ledger: Ledger, file: LoginAttempt[]) {
  const policy = new LedgerPolicy(
    ledger,
    "rules",
    true,
    () => undefined,
    () => new Date("2024-07-20T03:00:00Z"),
  );
  await policy.open({ run: randomUUID(), pid: process.pid, host: "fn", startedAt: "", command: "fn" });
  const day = new Date(file[0]!.time).toISOString().slice(0, 10);
  const carry = new WindowCarry(SETTINGS, policy, { narrow: true });
  await carry.settle(unitOf(day), file);
  const alerts = carry.finishAll();
  const already = await ledger.sent("smn", keys(alerts));
  const fresh = keys(alerts).filter((k) => !already.has(k));
  if (fresh.length > 0) await ledger.markSent("smn", fresh, randomUUID());
  await policy.close();
  return fresh;
}

describe.each(ledgers)("windows in the function (one file an invocation) with a %s", (_, make) => {
  it("files in upload order: every pattern sent once, as one pass over all attempts finds it", async () => {
    const { attempts } = plantedCorpus();
    const single = await run(undefined, [[DAY2, attempts]]);
    // CTS files of 5 minutes each.
    const files = new Map<number, LoginAttempt[]>();
    for (const a of [...attempts].sort((x, y) => x.time - y.time)) {
      const slot = Math.floor(a.time / (5 * MIN));
      files.set(slot, [...(files.get(slot) ?? []), a]);
    }
    const location = make();
    const sent: string[] = [];
    for (const file of files.values()) sent.push(...(await invoke(reopen(location), file)));
    expect(sent.sort()).toEqual(keys(single.alerts));
  });

  it("a later file delivered first: the pattern is found by the invocation that completes it, once", async () => {
    const early = [at(-22, "late", "198.51.100.70"), at(-19, "late", "198.51.100.70")];
    const later = [at(-13, "late", "198.51.100.70"), at(-8, "late", "198.51.100.70")];
    const location = make();
    expect(await invoke(reopen(location), later)).toEqual([]);
    const sent = await invoke(reopen(location), early);
    expect(sent).toEqual([`brute-force:user:corp/late:${new Date(later[1]!.time).toISOString()}`]);
    expect(await invoke(reopen(location), later)).toEqual([]);
  });
});

/** A ledger is opened once: a later run opens a new one at the same place. */
function reopen(l: Ledger): Ledger {
  if (l instanceof LocalLedger) return new LocalLedger(l.location, { retentionMs: 30 * 24 * 60 * MIN });
  const prefix = l.location.replace(/^obs:\/\/ledger\//, "");
  return new ObsLedger(
    new ObsBucket("ledger", { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 }),
    prefix,
  );
}
