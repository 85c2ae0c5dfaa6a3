import { createHash, randomUUID } from "node:crypto";
import net, { type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LoginAttempt } from "../../src/detect/LoginAttempt.js";
import type { Alert } from "../../src/detect/types.js";
import { CtsAuditError, describeError } from "../../src/errors.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";
import { alertKey } from "../../src/state/alertKey.js";
import { DIRECT_LOOKUP_MAX, folderName, ObsLedger } from "../../src/state/ObsLedger.js";
import type { ObjectOutcome } from "../../src/state/types.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

const BUCKET = "ledger";
const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };
const holder = (run: string) => ({
  run,
  pid: process.pid,
  host: "test",
  startedAt: "2024-07-19T00:00:00.000Z",
  command: "test",
});
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

let s3: S3TestServer;
beforeAll(async () => {
  s3 = await S3TestServer.start([BUCKET]);
}, 60_000);
afterAll(() => s3.stop());

const bucketAt = (endpoint = s3.endpoint, credentials = S3_CREDENTIALS) =>
  new ObsBucket(BUCKET, { endpoint, ...credentials, retry: fast, timeoutSeconds: 5 });

/** A fresh prefix per test, so that tests do not see each other's markers. */
const freshPrefix = () => `cts-audit-ledger/${randomUUID()}`;

async function opened(prefix: string, options: { readOnly?: boolean; run?: string } = {}) {
  const bucket = bucketAt();
  const ledger = new ObsLedger(bucket, prefix, { clock: () => new Date("2024-07-19T12:00:00Z") });
  await ledger.open({ holder: holder(options.run ?? randomUUID()), readOnly: options.readOnly });
  return { bucket, ledger };
}

function outcome(key: string, fingerprint: string): ObjectOutcome {
  return {
    fingerprint,
    rules: "rules-1",
    record: { object: key, kind: "trace", status: "scanned", traces: 1, integrity: "valid", error: "" },
    alerts: [alert(`trace-of-${key}`)],
    matchedTimes: [Date.parse("2024-07-19T10:00:00Z")],
    at: "2024-07-19T10:05:00.000Z",
  };
}

/** A login attempt as the ledger stores it, with some fields replaced (undefined: left out). */
function attemptWith(over: Record<string, unknown>): Record<string, unknown> {
  const a: Record<string, unknown> = {
    time: Date.parse("2024-07-19T10:00:00Z"),
    traceId: "a1",
    traceName: "loginFailed",
    outcome: "failure",
    user: "alice",
    userKey: "d1/alice",
    domain: "d1",
    sourceIp: "203.0.113.7",
    object: objectKey(0),
    region: "ap-southeast-1",
    ...over,
  };
  for (const k of Object.keys(a)) if (a[k] === undefined) delete a[k];
  return a;
}

function alert(traceId: string, extra: Partial<Alert> = {}): Alert {
  return {
    traceId,
    traceName: "login",
    user: "alice",
    userId: "u1",
    domain: "d1",
    sourceIp: "203.0.113.7",
    time: "2024-07-19T10:00:00.000Z",
    region: "ap-southeast-1",
    object: "CloudTraces/ap-southeast-1/2024/07/19/IAM/x.json.gz",
    integrity: "valid",
    reason: "not-allowlisted",
    ...extra,
  };
}

const UNIT = "CloudTraces/ap-southeast-1/2024/07/19";
const objectKey = (i: number) => `${UNIT}/IAM/trace-${String(i).padStart(4, "0")}.json.gz`;
const items = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ key: objectKey(from + i), fingerprint: `etag-${from + i}` }));
const requestsOf = (bucket: ObsBucket) => ({ ...bucket.requests });
const delta = (bucket: ObsBucket, before: ReturnType<typeof requestsOf>) =>
  Object.fromEntries(
    Object.entries(bucket.requests).map(([k, v]) => [k, v - before[k as keyof typeof before]]),
  );

describe("ObsLedger: completed objects per unit", () => {
  it("keeps outcomes by unit and object, matched by fingerprint", async () => {
    const prefix = freshPrefix();
    const { ledger } = await opened(prefix);
    await ledger.putObjects(
      UNIT,
      items(3).map((i) => [i.key, outcome(i.key, i.fingerprint)] as const),
    );
    const got = await ledger.getObjects(UNIT, [
      ...items(2),
      { key: objectKey(2), fingerprint: "changed-etag" },
      { key: objectKey(99), fingerprint: "etag-99" },
    ]);
    expect([...got.keys()].sort()).toEqual([objectKey(0), objectKey(1)]);
    expect(got.get(objectKey(1))).toEqual(outcome(objectKey(1), "etag-1"));
    // Another ledger on the same prefix (the next invocation) sees them too.
    const next = await opened(prefix);
    expect((await next.ledger.getObjects(UNIT, items(3))).size).toBe(3);
  });

  it.each([
    ["direct lookup", 1],
    ["listing", DIRECT_LOOKUP_MAX + 4],
  ])("keeps units apart, also a unit whose id starts with another's (%s)", async (_name, n) => {
    const prefix = freshPrefix();
    const { ledger } = await opened(prefix);
    const day = "CloudTraces/r/2024/07/1";
    const longer = `${day}9`;
    const slashed = "CloudTraces/r/2024/07/1/9";
    await ledger.putObjects(
      longer,
      items(n).map((i) => [i.key, outcome(i.key, i.fingerprint)] as const),
    );
    expect((await ledger.getObjects(day, items(n))).size).toBe(0);
    expect((await ledger.getObjects(slashed, items(n))).size).toBe(0);
    expect((await ledger.getObjects(longer, items(n))).size).toBe(n);
  });

  it.each([
    // objects asked, of which done: LISTs and GETs expected
    [1, 1, 0, 1],
    [1, 0, 0, 1],
    [DIRECT_LOOKUP_MAX, 3, 0, DIRECT_LOOKUP_MAX],
    [DIRECT_LOOKUP_MAX + 1, 5, 1, 5],
    [200, 0, 1, 0],
    [200, 120, 1, 120],
  ])("looks up %i objects (%i done) with %i LIST and %i GETs", async (asked, present, list, get) => {
    const prefix = freshPrefix();
    const writer = await opened(prefix);
    await writer.ledger.putObjects(
      UNIT,
      items(present).map((i) => [i.key, outcome(i.key, i.fingerprint)] as const),
    );
    // Markers of another unit must not be read or listed.
    await writer.ledger.putObjects("CloudTraces/other/2024/07/19", [
      [objectKey(0), outcome(objectKey(0), "x")],
    ]);
    const { bucket, ledger } = await opened(prefix);
    const before = requestsOf(bucket);
    const wire = s3.counts();
    const got = await ledger.getObjects(UNIT, items(asked));
    expect(got.size).toBe(present);
    expect(delta(bucket, before)).toEqual({ list, get, head: 0, put: 0, delete: 0 });
    // The same on the wire, as s3rver's proxy saw it.
    const after = s3.counts();
    expect([after.list - wire.list, after.get - wire.get]).toEqual([list, get]);
  });

  it("opens without a request and records one object with one PUT", async () => {
    const bucket = bucketAt();
    const ledger = new ObsLedger(bucket, freshPrefix());
    await ledger.open({ holder: holder("r1") });
    expect(bucket.requests).toEqual({ list: 0, get: 0, head: 0, put: 0, delete: 0 });
    await ledger.putObjects(UNIT, [[objectKey(0), outcome(objectKey(0), "e")]]);
    expect(bucket.requests).toEqual({ list: 0, get: 0, head: 0, put: 1, delete: 0 });
  });
});

describe("ObsLedger: alerts per sink", () => {
  it("keeps sent alert keys per sink", async () => {
    const { ledger } = await opened(freshPrefix());
    await ledger.markSent("smn", ["t1", "t2"], "msg-1");
    await ledger.markSent("file:/var/log/cts/alerts.json", ["t3"], "file-1");
    expect(await ledger.sent("smn", ["t1", "t2", "t3"])).toEqual(new Set(["t1", "t2"]));
    expect(await ledger.sent("stdout", ["t1", "t2", "t3"])).toEqual(new Set());
    expect(await ledger.sent("file:/var/log/cts/alerts.json", ["t1", "t3"])).toEqual(new Set(["t3"]));
    // A sink id that differs only in characters made safe is another sink.
    expect(await ledger.sent("file:_var_log_cts_alerts.json", ["t3"])).toEqual(new Set());
  });

  it("keeps pending alerts per sink; adds never delete, removes delete exactly the given keys", async () => {
    const prefix = freshPrefix();
    const { ledger } = await opened(prefix);
    const noId = alert("", { traceName: "login", sourceIp: "198.51.100.1" });
    await ledger.addPending("smn", [alert("a1"), alert("a2")]);
    await ledger.addPending("smn", [alert("a3"), noId]);
    await ledger.addPending("stdout", [alert("s1")]);
    const ids = async (sink: string) => (await ledger.pending(sink)).map(alertKey).sort();
    expect(await ids("smn")).toEqual(["a1", "a2", "a3", alertKey(noId)].sort());
    expect(await ids("stdout")).toEqual(["s1"]);
    await ledger.removePending("smn", ["a2", alertKey(noId), "never-added"]);
    expect(await ids("smn")).toEqual(["a1", "a3"]);
    expect(await ids("stdout")).toEqual(["s1"]);
    expect(await ledger.pending("file:/x")).toEqual([]);
    expect((await ledger.pending("smn")).find((a) => a.traceId === "a1")).toEqual(alert("a1"));
  });
});

describe("ObsLedger: concurrent writers on one prefix", () => {
  it("loses no entry and resurrects none when invocations interleave", async () => {
    const prefix = freshPrefix();
    const writers = await Promise.all([0, 1, 2].map((w) => opened(prefix, { run: `run-${w}` })));
    const keysOf = (w: number, from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `w${w}-alert-${from + i}`);
    await Promise.all(
      writers.map(async ({ ledger }, w) => {
        // Two adds at once, then removes, more adds, sent marks and objects, all interleaved across writers.
        await Promise.all([
          ledger.addPending(
            "smn",
            keysOf(w, 0, 15).map((k) => alert(k)),
          ),
          ledger.addPending(
            "smn",
            keysOf(w, 15, 30).map((k) => alert(k)),
          ),
          ledger.addPending(
            "stdout",
            keysOf(w, 0, 5).map((k) => alert(k)),
          ),
        ]);
        await Promise.all([
          ledger.removePending("smn", keysOf(w, 0, 10)),
          ledger.markSent("smn", keysOf(w, 0, 10), `msg-${w}`),
          ledger.addPending(
            "smn",
            keysOf(w, 30, 40).map((k) => alert(k)),
          ),
          ledger.putObjects(
            UNIT,
            items(10, w * 10).map((i) => [i.key, outcome(i.key, i.fingerprint)] as const),
          ),
        ]);
        await ledger.close();
      }),
    );
    const { ledger } = await opened(prefix);
    const pendingSmn = (await ledger.pending("smn")).map(alertKey).sort();
    expect(pendingSmn).toEqual([0, 1, 2].flatMap((w) => keysOf(w, 10, 40)).sort());
    expect((await ledger.pending("stdout")).map(alertKey).sort()).toEqual(
      [0, 1, 2].flatMap((w) => keysOf(w, 0, 5)).sort(),
    );
    const allKeys = [0, 1, 2].flatMap((w) => keysOf(w, 0, 40));
    expect([...(await ledger.sent("smn", allKeys))].sort()).toEqual(
      [0, 1, 2].flatMap((w) => keysOf(w, 0, 10)).sort(),
    );
    expect((await ledger.getObjects(UNIT, items(30))).size).toBe(30);
  });

  it("keeps the pending alerts of another run that adds while this one removes what it sent", async () => {
    const prefix = freshPrefix();
    const [a, b] = await Promise.all([opened(prefix), opened(prefix)]);
    await a.ledger.addPending("smn", [alert("old-1"), alert("old-2")]);
    // Run A sends what was pending and removes it; run B meanwhile keeps the alerts it could not send.
    const sentByA = (await a.ledger.pending("smn")).map(alertKey);
    await Promise.all([
      a.ledger.markSent("smn", sentByA, "msg-a").then(() => a.ledger.removePending("smn", sentByA)),
      b.ledger.addPending("smn", [alert("new-1"), alert("new-2")]),
    ]);
    expect((await b.ledger.pending("smn")).map(alertKey).sort()).toEqual(["new-1", "new-2"]);
  });
});

describe("ObsLedger: markers it cannot read", () => {
  const marker = (prefix: string, kind: string, folder: string, key: string) =>
    `${prefix}/${kind}/${folderName(folder)}/${sha256(key)}.json`;

  it.each([
    ["not JSON", "{not json"],
    ["empty", ""],
    ["another version", JSON.stringify({ v: 99, key: "t1" })],
  ])("counts a sent marker that is %s as sent", async (_name, body) => {
    const prefix = freshPrefix();
    const { bucket, ledger } = await opened(prefix);
    await bucket.putText(marker(prefix, "sent", "smn", "t1"), body);
    expect(await ledger.sent("smn", ["t1", "t2"])).toEqual(new Set(["t1"]));
  });

  it.each<[string, (key: string) => string]>([
    ["not JSON", () => "{not json"],
    ["empty", () => ""],
    [
      "another version",
      (key: string) => JSON.stringify({ v: 99, unit: UNIT, key, outcome: outcome(key, "e") }),
    ],
    [
      "another object's",
      () => JSON.stringify({ v: 1, unit: UNIT, key: "other", outcome: outcome("other", "e") }),
    ],
    ["without an outcome", (key: string) => JSON.stringify({ v: 1, unit: UNIT, key })],
    [
      "with a broken outcome",
      (key: string) => JSON.stringify({ v: 1, unit: UNIT, key, outcome: { fingerprint: "e" } }),
    ],
    // A reused object's attempts feed the windowed rules: a malformed one must not reach them.
    ...(
      [
        ["with attempts that are not a list", { traceId: "x" }],
        ["with an attempt that is not an object", ["x"]],
        ["with an attempt without a time", [attemptWith({ time: undefined })]],
        ["with an attempt whose time is text", [attemptWith({ time: "2024-07-19T10:00:00Z" })]],
        ["with an attempt of an unknown outcome", [attemptWith({ outcome: "maybe" })]],
        ["with an attempt without its user key", [attemptWith({ userKey: undefined })]],
      ] as Array<[string, unknown]>
    ).map(([name, attempts]): [string, (key: string) => string] => [
      name,
      (key: string) => JSON.stringify({ v: 1, unit: UNIT, key, outcome: { ...outcome(key, "e"), attempts } }),
    ]),
  ])("takes an object marker that is %s as absent, and a new write replaces it", async (_name, body) => {
    const prefix = freshPrefix();
    const { bucket, ledger } = await opened(prefix);
    const key = objectKey(0);
    await bucket.putText(marker(prefix, "objects", UNIT, key), body(key));
    for (const n of [1, DIRECT_LOOKUP_MAX + 1])
      expect((await ledger.getObjects(UNIT, [{ key, fingerprint: "e" }, ...items(n - 1, 1)])).size).toBe(0);
    await ledger.putObjects(UNIT, [[key, outcome(key, "e")]]);
    expect((await ledger.getObjects(UNIT, [{ key, fingerprint: "e" }])).get(key)).toEqual(outcome(key, "e"));
  });

  it("keeps an outcome's login attempts as they were written", async () => {
    const prefix = freshPrefix();
    const { ledger } = await opened(prefix);
    const key = objectKey(0);
    const withAttempts = { ...outcome(key, "e"), attempts: [attemptWith({}) as unknown as LoginAttempt] };
    await ledger.putObjects(UNIT, [[key, withAttempts]]);
    expect((await ledger.getObjects(UNIT, [{ key, fingerprint: "e" }])).get(key)).toEqual(withAttempts);
  });

  it.each([
    ["not JSON", "{not json"],
    ["another version", JSON.stringify({ v: 99, alert: alert("p1") })],
    ["without an alert", JSON.stringify({ v: 1, sink: "smn", key: "p1" })],
  ])("refuses a pending marker that is %s with STATE_UNREADABLE naming it", async (_name, body) => {
    const prefix = freshPrefix();
    const { bucket, ledger } = await opened(prefix);
    await ledger.addPending("smn", [alert("p0")]);
    const bad = marker(prefix, "pending", "smn", "p1");
    await bucket.putText(bad, body);
    const err = await ledger.pending("smn").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "STATE_UNREADABLE" });
    expect((err as Error).message).toContain(bad);
    expect((err as Error).message).toMatch(/delete it/);
    // Nothing was deleted: the marker and the readable one are still there.
    expect(await bucket.getText(bad)).toBe(body);
    expect(await ledger.sent("smn", ["p0"])).toEqual(new Set());
  });
});

describe("ObsLedger: failures and life cycle", () => {
  const secret = { accessKeyId: "AKLEDGERTESTKEYID0042", secretAccessKey: "ledgerTestSecret/Value+0042" };
  const operations: Array<[string, (l: ObsLedger) => Promise<unknown>, string]> = [
    ["getObjects of one object", (l) => l.getObjects(UNIT, items(1)), "reading"],
    ["getObjects of a unit", (l) => l.getObjects(UNIT, items(DIRECT_LOOKUP_MAX + 1)), "listing"],
    ["putObjects", (l) => l.putObjects(UNIT, [[objectKey(0), outcome(objectKey(0), "e")]]), "writing"],
    ["sent", (l) => l.sent("smn", ["t1"]), "reading"],
    ["markSent", (l) => l.markSent("smn", ["t1"], "m"), "writing"],
    ["pending", (l) => l.pending("smn"), "listing"],
    ["addPending", (l) => l.addPending("smn", [alert("t1")]), "writing"],
    ["removePending", (l) => l.removePending("smn", ["t1"]), "deleting"],
  ];

  async function closedPort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return port;
  }

  function expectStateError(err: unknown, location: string, what: string) {
    expect(err).toBeInstanceOf(CtsAuditError);
    expect(err).toMatchObject({ code: "STATE" });
    const text = describeError(err);
    expect(text).toContain(location);
    expect(text).toContain(what);
    expect(text).not.toContain(secret.accessKeyId);
    expect(text).not.toContain(secret.secretAccessKey);
  }

  it.each(operations)("%s on an endpoint that refuses connections: a STATE error", async (_n, op, what) => {
    const prefix = freshPrefix();
    const ledger = new ObsLedger(bucketAt(`http://127.0.0.1:${await closedPort()}`, secret), prefix);
    await ledger.open({ holder: holder("r") });
    expectStateError(await op(ledger).catch((e: unknown) => e), `obs://${BUCKET}/${prefix}/`, what);
  });

  it.each(operations)("%s answered 403: a STATE error with the status and the hint", async (_n, op, what) => {
    const prefix = freshPrefix();
    const ledger = new ObsLedger(bucketAt(s3.endpoint, secret), prefix);
    await ledger.open({ holder: holder("r") });
    s3.inject({ kind: "status", status: 403, match: prefix, times: 100 });
    try {
      const err = await op(ledger).catch((e: unknown) => e);
      expectStateError(err, `obs://${BUCKET}/${prefix}/`, what);
      expect((err as Error).message).toMatch(/403.*check HUAWEICLOUD_SDK_AK\/SK/);
    } finally {
      s3.clearFaults();
    }
  });

  it("writes nothing when read only", async () => {
    const prefix = freshPrefix();
    const writer = await opened(prefix);
    await writer.ledger.addPending("smn", [alert("kept")]);
    const { bucket, ledger } = await opened(prefix, { readOnly: true });
    await ledger.putObjects(UNIT, [[objectKey(0), outcome(objectKey(0), "e")]]);
    await ledger.markSent("smn", ["t1"], "m");
    await ledger.addPending("smn", [alert("new")]);
    await ledger.removePending("smn", ["kept"]);
    await ledger.close();
    expect(bucket.requests).toMatchObject({ put: 0, delete: 0 });
    expect((await writer.ledger.pending("smn")).map(alertKey)).toEqual(["kept"]);
    expect(await writer.ledger.sent("smn", ["t1"])).toEqual(new Set());
    expect((await writer.ledger.getObjects(UNIT, items(1))).size).toBe(0);
  });

  it("close waits for writes in flight, is safe twice, and refuses use afterwards", async () => {
    const prefix = freshPrefix();
    const { ledger } = await opened(prefix);
    s3.inject({ kind: "delay", method: "PUT", match: prefix, delayMs: 300, times: 2 });
    const writes = [
      ledger.markSent("smn", ["late"], "m"),
      ledger.putObjects(UNIT, [[objectKey(0), outcome(objectKey(0), "e")]]),
    ];
    await ledger.close();
    await ledger.close();
    // The writes were not awaited by the test: close did, so both markers are there now.
    const direct = bucketAt();
    expect(await direct.getText(`${prefix}/sent/${folderName("smn")}/${sha256("late")}.json`)).toBeDefined();
    expect(
      await direct.getText(`${prefix}/objects/${folderName(UNIT)}/${sha256(objectKey(0))}.json`),
    ).toBeDefined();
    await Promise.all(writes);
    await expect(ledger.sent("smn", ["late"])).rejects.toMatchObject({ code: "STATE" });
    await expect(ledger.markSent("smn", ["x"], "m")).rejects.toThrow(/closed/);
  });

  it("refuses use before open", async () => {
    const ledger = new ObsLedger(bucketAt(), freshPrefix());
    await expect(ledger.getObjects(UNIT, items(1))).rejects.toThrow(/call open\(\) first/);
  });
});

describe("folderName", () => {
  it.each([
    ["CloudTraces/ap-southeast-1/2024/07/19", /^CloudTraces_ap-southeast-1_2024_07_19-[0-9a-f]{16}$/],
    ["smn", /^smn-[0-9a-f]{16}$/],
    ["file:/var/log/a b.json", /^file__var_log_a_b\.json-[0-9a-f]{16}$/],
    ["x".repeat(500), /^x{96}-[0-9a-f]{16}$/],
  ])("makes %s one readable segment", (id, shape) => {
    expect(folderName(id)).toMatch(shape);
  });

  it("gives distinct ids distinct folders, also when they read the same once made safe", () => {
    const ids = ["a/b", "a_b", "a:b", "a b", "A/b", "a/b/", "x".repeat(200), `${"x".repeat(199)}y`];
    expect(new Set(ids.map(folderName)).size).toBe(ids.length);
  });
});
