import { randomUUID } from "node:crypto";
import path from "node:path";
import { open as openLmdb } from "lmdb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEFAULT_LOCATION_SETTINGS,
  mergeBaselines,
  type LocationBaseline,
} from "../../src/detect/LocationBaseline.js";
import {
  NewLocationRules,
  type BaselineStore,
  type KnownNetwork,
  type LocationLogin,
} from "../../src/detect/NewLocationRules.js";
import { GeoLookup } from "../../src/enrich/GeoLookup.js";
import { LedgerPolicy } from "../../src/engine/LedgerPolicy.js";
import { ConfigError } from "../../src/errors.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { LocalLedger } from "../../src/state/LocalLedger.js";
import { ObsLedger } from "../../src/state/ObsLedger.js";
import type { Ledger } from "../../src/state/types.js";
import { tempDir } from "../support/harness.js";
import { baselineStore } from "../../src/engine/baselineStore.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

const DAY = 86_400_000;
const T0 = Date.parse("2026-08-01T08:00:00Z");
const NOW = new Date(T0 + 60 * DAY);
const geo = GeoLookup.open();
const holder = { run: "r", pid: process.pid, host: "test", startedAt: NOW.toISOString(), command: "test" };

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await S3TestServer.start(["baselines"]);
}, 60_000);
afterAll(() => s3.stop());

function login(
  day: number,
  sourceIp: string,
  user = "alice",
  over: Partial<LocationLogin> = {},
): LocationLogin {
  return {
    time: T0 + day * DAY,
    traceId: `${user}-${day}-${sourceIp}`,
    traceName: "login",
    outcome: "success",
    user,
    userKey: `acme/${user}`,
    domain: "acme",
    sourceIp,
    object: `CloudTraces/cn-north-4/2026/08/${String(day + 1).padStart(2, "0")}/trace.json.gz`,
    region: "cn-north-4",
    ...over,
  };
}

/** 20 days of alice's logins from Google's resolver address (US, AS15169). */
const twentyDays = Array.from({ length: 20 }, (_, d) => login(d, "8.8.8.8"));

const ledgers: Array<{ name: string; make: () => Promise<() => Ledger> }> = [
  {
    name: "LocalLedger (LMDB)",
    make: async () => {
      const file = path.join(tempDir(), "ledger");
      return () => new LocalLedger(file, { retentionMs: 30 * DAY, clock: () => NOW });
    },
  },
  {
    name: "ObsLedger (markers in s3rver)",
    make: async () => {
      const prefix = `state/${randomUUID()}`;
      return () =>
        new ObsLedger(
          new ObsBucket("baselines", { endpoint: s3.endpoint, ...S3_CREDENTIALS, timeoutSeconds: 5 }),
          prefix,
          { clock: () => NOW },
        );
    },
  },
];

/** One run: opens the ledger, evaluates, closes (as the engine does per run). */
async function runWith(
  ledger: Ledger,
  logins: LocationLogin[],
  known: KnownNetwork[] = [],
): Promise<ReturnType<NewLocationRules["evaluate"]>> {
  await ledger.open({ holder, lockWaitMs: 1000 });
  const store: BaselineStore = {
    get: (keys) => ledger.getBaselines!(keys),
    put: (b) => ledger.putBaselines!(b),
  };
  try {
    return await new NewLocationRules(geo, DEFAULT_LOCATION_SETTINGS, known, store).evaluate(logins);
  } finally {
    await ledger.close();
  }
}

describe.each(ledgers)("new-country / new-asn with $name", ({ make }) => {
  it("20 days from one country, then the first login from another: both rules, enriched, once", async () => {
    const ledgerOf = await make();
    // The history in one run, the new login in the next: the baseline is the ledger's.
    expect(await runWith(ledgerOf(), twentyDays)).toEqual([]);
    const alerts = await runWith(ledgerOf(), [login(20, "77.88.8.8")]);
    expect(alerts.map((a) => [a.rule, a.severity, a.country, a.asn, a.traceId])).toEqual([
      ["new-country", "medium", "RU", 13238, "alice-20-77.88.8.8"],
      ["new-asn", "medium", "RU", 13238, "alice-20-77.88.8.8"],
    ]);
    expect(alerts[0]).toMatchObject({
      user: "alice",
      domain: "acme",
      sourceIp: "77.88.8.8",
      time: new Date(T0 + 20 * DAY).toISOString(),
      reason: "new-location",
      asOrg: expect.stringMatching(/YANDEX/i),
    });
    // The next login from there is known now.
    expect(await runWith(ledgerOf(), [login(21, "77.88.8.8")])).toEqual([]);
  });

  it("a brand-new user raises neither; nor does a user with 20 days of history from a knownNetworks address", async () => {
    const ledgerOf = await make();
    await runWith(ledgerOf(), twentyDays);
    expect(await runWith(ledgerOf(), [login(20, "77.88.8.8", "bob")])).toEqual([]);
    expect(await runWith(ledgerOf(), [login(20, "77.88.8.8")], [{ cidrs: ["77.88.8.0/24"] }])).toEqual([]);
    expect(await runWith(ledgerOf(), [login(21, "2a02:6b8::feed:ff")], [{ asns: [13238] }])).toEqual([]);
  });

  it("the baselines are kept per user: alice's history does not cover carol", async () => {
    const ledgerOf = await make();
    const carol = Array.from({ length: 20 }, (_, d) => login(d, "77.88.8.8", "carol"));
    await runWith(ledgerOf(), [...twentyDays, ...carol]);
    const alerts = await runWith(ledgerOf(), [login(20, "77.88.8.8"), login(20, "8.8.8.8", "carol")]);
    expect(alerts.map((a) => `${a.user} ${a.rule} ${a.country}`).sort()).toEqual([
      "alice new-asn RU",
      "alice new-country RU",
      "carol new-asn US",
      "carol new-country US",
    ]);
  });
});

describe("NewLocationRules: a run's logins", () => {
  it("are taken in time order, each trace once, successes only: shuffled input gives the same alerts", async () => {
    const input = [
      ...twentyDays,
      login(20, "77.88.8.8"),
      // A failed login from elsewhere teaches nothing and raises nothing.
      login(19, "39.156.66.10", "alice", { outcome: "failure", traceId: "f1" }),
      // The same trace delivered twice is one login.
      login(20, "77.88.8.8"),
    ];
    const rules = () => new NewLocationRules(geo);
    const inOrder = await rules().evaluate(input);
    const shuffled = await rules().evaluate([...input].reverse());
    expect(inOrder.map((a) => a.rule)).toEqual(["new-country", "new-asn"]);
    expect(shuffled).toEqual(inOrder);
  });

  it("without a ledger, a run learns within itself (a backfill of 30 days)", async () => {
    const alerts = await new NewLocationRules(geo).evaluate([...twentyDays, login(25, "39.156.66.10")]);
    expect(alerts.map((a) => [a.rule, a.country, a.asn])).toEqual([
      ["new-country", "CN", 9808],
      ["new-asn", "CN", 9808],
    ]);
  });

  it("a private address has no country: neither rule fires, the history still counts", async () => {
    expect(await new NewLocationRules(geo).evaluate([...twentyDays, login(20, "10.0.0.7")])).toEqual([]);
  });

  it("a knownNetworks entry that is not a CIDR is a usage error naming it", () => {
    expect(() => new NewLocationRules(geo, DEFAULT_LOCATION_SETTINGS, [{ cidrs: ["10.0.0.0/33"] }])).toThrow(
      ConfigError,
    );
    expect(() => new NewLocationRules(geo, DEFAULT_LOCATION_SETTINGS, [{ cidrs: ["vpn"] }])).toThrow(
      /knownNetworks\[0\]\.cidrs\[0\]/,
    );
  });
});

describe("LocalLedger baselines: expiry", () => {
  it("a baseline past its expiresAt is gone (read before and after the sweep at close)", async () => {
    const file = path.join(tempDir(), "ledger");
    let now = NOW;
    const open = async () => {
      const l = new LocalLedger(file, { retentionMs: 365 * DAY, clock: () => now });
      await l.open({ holder, lockWaitMs: 1000 });
      return l;
    };
    const b = { firstLogin: T0, lastLogin: T0 + 19 * DAY, countries: {}, asns: {} };
    let l = await open();
    await l.putBaselines([
      { userKey: "acme/alice", baseline: b, expiresAt: T0 + 109 * DAY },
      { userKey: "acme/bob", baseline: b, expiresAt: T0 + 200 * DAY },
    ]);
    expect([...(await l.getBaselines(["acme/alice", "acme/bob", "acme/nobody"])).keys()]).toEqual([
      "acme/alice",
      "acme/bob",
    ]);
    await l.close();
    now = new Date(T0 + 110 * DAY);
    l = await open();
    expect([...(await l.getBaselines(["acme/alice", "acme/bob"])).keys()]).toEqual(["acme/bob"]);
    await l.close();
    // Swept at that close: even read with a clock from before its expiry, alice's is gone; bob's is whole.
    now = NOW;
    l = await open();
    const after = await l.getBaselines(["acme/alice", "acme/bob"]);
    expect([...after.keys()]).toEqual(["acme/bob"]);
    expect(after.get("acme/bob")).toEqual(b);
    await l.close();
  });

  it("a dry run over a ledger written before baselines existed reads none and writes nothing", async () => {
    const file = path.join(tempDir(), "ledger");
    const writer = new LocalLedger(file, { retentionMs: DAY, clock: () => NOW });
    await writer.open({ holder, lockWaitMs: 1000 });
    await writer.close();
    // As an older version left it: no baseline databases at all.
    const env = openLmdb({ path: file, noSubdir: true, maxDbs: 12 });
    for (const name of ["baselines", "baseline-expiry"]) await env.openDB({ name }).drop();
    await env.close();
    const dry = new LocalLedger(file, { retentionMs: DAY, clock: () => NOW });
    await dry.open({ holder, readOnly: true });
    expect((await dry.getBaselines(["acme/alice"])).size).toBe(0);
    await expect(dry.putBaselines([])).rejects.toThrow(/read only/);
    await dry.close();
  });
});

describe("LedgerPolicy.baselineStore", () => {
  it("a dry run reads the baselines and writes none, but learns within the run; no ledger means no baselines", async () => {
    const file = path.join(tempDir(), "ledger");
    const first = new LocalLedger(file, { retentionMs: DAY, clock: () => NOW });
    await first.open({ holder, lockWaitMs: 1000 });
    const b = { firstLogin: T0, lastLogin: T0, countries: {}, asns: {} };
    await first.putBaselines([{ userKey: "acme/alice", baseline: b, expiresAt: NOW.getTime() + DAY }]);
    await first.close();

    const failures: string[] = [];
    const dry = new LedgerPolicy(
      new LocalLedger(file, { retentionMs: DAY, clock: () => NOW }),
      "rules",
      false,
      (m) => failures.push(m),
      () => NOW,
    );
    await dry.open(holder);
    const store = baselineStore(dry);
    expect((await store.get(["acme/alice"])).get("acme/alice")).toEqual(b);
    await store.put([{ userKey: "acme/bob", baseline: b, expiresAt: NOW.getTime() + DAY }]);
    // Its later units are judged with what its earlier ones taught, as a real run's are...
    expect((await store.get(["acme/bob", "acme/alice"])).get("acme/bob")).toEqual(b);
    await dry.close();
    expect(failures).toEqual([]);
    // ... and none of it reached the ledger.
    const after = new LocalLedger(file, { retentionMs: DAY, clock: () => NOW });
    await after.open({ holder, readOnly: true, lockWaitMs: 1000 });
    expect([...(await after.getBaselines(["acme/alice", "acme/bob"])).keys()]).toEqual(["acme/alice"]);
    await after.close();

    const none = new LedgerPolicy(
      undefined,
      "rules",
      true,
      (m) => failures.push(m),
      () => NOW,
    );
    const noStore = baselineStore(none);
    await noStore.put([{ userKey: "acme/alice", baseline: b, expiresAt: NOW.getTime() + DAY }]);
    expect((await noStore.get(["acme/alice"])).size).toBe(0);
  });

  it("over a ledger others write to, a run merges its own baselines with theirs; over its own, it reads none again", async () => {
    const b: LocationBaseline = {
      firstLogin: T0,
      lastLogin: T0,
      countries: { FR: { first: T0, last: T0 } },
      asns: {},
    };
    const theirs: LocationBaseline = {
      firstLogin: T0 - DAY,
      lastLogin: T0 + DAY,
      countries: { DE: { first: T0, last: T0 } },
      asns: {},
    };
    for (const exclusive of [false, true]) {
      const held = new Map<string, LocationBaseline>();
      let reads = 0;
      const ledger = {
        location: "memory",
        exclusive,
        open: async () => undefined,
        close: async () => undefined,
        getBaselines: async (keys: readonly string[]) => {
          reads++;
          return new Map(keys.flatMap((k) => (held.has(k) ? [[k, held.get(k)!] as const] : [])));
        },
        putBaselines: async (list: ReadonlyArray<{ userKey: string; baseline: LocationBaseline }>) => {
          for (const x of list) held.set(x.userKey, x.baseline);
        },
      } as unknown as Ledger;
      const policy = new LedgerPolicy(
        ledger,
        "rules",
        true,
        () => undefined,
        () => NOW,
      );
      await policy.open(holder);
      const store = baselineStore(policy);
      await store.put([{ userKey: "acme/alice", baseline: b, expiresAt: NOW.getTime() + DAY }]);
      await policy.drain();
      held.set("acme/alice", theirs); // another invocation's write
      reads = 0;
      const got = (await store.get(["acme/alice"])).get("acme/alice");
      if (exclusive) {
        expect(reads).toBe(0);
        expect(got).toEqual(b);
      } else {
        expect(reads).toBe(1);
        expect(got).toEqual(mergeBaselines(theirs, b));
        expect(Object.keys(got!.countries).sort()).toEqual(["DE", "FR"]);
      }
    }
  });

  it("a run sees its own baselines at once, and they are in the ledger once it closes", async () => {
    const file = path.join(tempDir(), "ledger");
    const policy = new LedgerPolicy(
      new LocalLedger(file, { retentionMs: DAY, clock: () => NOW }),
      "rules",
      true,
      (m) => {
        throw new Error(m);
      },
      () => NOW,
    );
    await policy.open(holder);
    const store = baselineStore(policy);
    const b = { firstLogin: T0, lastLogin: T0, countries: {}, asns: {} };
    const later = { ...b, lastLogin: T0 + DAY };
    await store.put([{ userKey: "acme/alice", baseline: b, expiresAt: NOW.getTime() + DAY }]);
    await store.put([{ userKey: "acme/alice", baseline: later, expiresAt: NOW.getTime() + DAY }]);
    expect((await store.get(["acme/alice"])).get("acme/alice")).toEqual(later);
    await policy.close();
    const after = new LocalLedger(file, { retentionMs: DAY, clock: () => NOW });
    await after.open({ holder, readOnly: true, lockWaitMs: 1000 });
    expect((await after.getBaselines(["acme/alice"])).get("acme/alice")).toEqual(later);
    await after.close();
  });
});
