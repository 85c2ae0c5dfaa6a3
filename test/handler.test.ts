import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { handler, obsRecords, type FunctionContext, type HandlerResult } from "../src/handler.js";
import { root } from "./support/cli.js";
import { CtsBucket, makeTrace } from "./support/ctsBucket.js";
import { tempDir, testKeys } from "./support/harness.js";
import type { S3TestServer } from "./support/s3Server.js";
import type { SmnTestServer } from "./support/smnServer.js";
import { useCloudServers } from "./support/cloudServers.js";

const BUCKET = "cts-fn";
const SK = "temporarySecretKeyOfTheAgency0000000000";
const TOKEN = "temporary-security-token-of-the-agency";
let s3: S3TestServer;
let smn: SmnTestServer;
let bucket: CtsBucket;
let files: string[];
let digests: string[];
/** A trace file with 25 logins from 25 addresses outside the allowlist. */
let crowded: string;
const t = (iso: string) => new Date(iso);

const { published } = useCloudServers([BUCKET], async (servers) => {
  ({ s3, smn } = servers);
  // FunctionGraph hands the function temporary credentials: the AK works only with its security token.
  smn.allow("S3RVER", SK, TOKEN);
  smn.addTopic("cts-login-alerts");
  bucket = new CtsBucket(testKeys().privateKey, BUCKET);
  files = [];
  for (const [i, hour] of ["00", "01"].entries()) {
    files.push(
      bucket.addTraceFile({
        uploadTime: t(`2024-07-19T${hour}:20:00Z`),
        traces: [
          makeTrace({
            traceName: "login",
            sourceIp: `203.0.113.${10 + i}`,
            time: t(`2024-07-19T${hour}:15:00Z`),
            user: "alice",
          }),
          makeTrace({
            traceName: "logout",
            sourceIp: "192.0.2.1",
            time: t(`2024-07-19T${hour}:16:00Z`),
            user: "dave",
          }),
        ],
      }),
    );
  }
  digests = bucket.addDigests({
    service: "IAM",
    from: t("2024-07-19T00:00:00Z"),
    to: t("2024-07-19T02:00:00Z"),
  });
  crowded = bucket.addTraceFile({
    uploadTime: t("2024-07-19T05:20:00Z"),
    traces: Array.from({ length: 25 }, (_, i) =>
      makeTrace({
        traceName: "login",
        sourceIp: `198.51.100.${100 + i}`,
        time: t(`2024-07-19T05:${String(10 + i).padStart(2, "0")}:00Z`),
        user: `user${i}`,
      }),
    ),
  });
  await s3.seed(BUCKET, bucket);
});

function context(userData: Record<string, string>, remainingMs = 300_000): FunctionContext {
  const data: Record<string, string> = {
    SMN_Topic: "cts-login-alerts",
    IP: "192.0.2.0/24",
    OBS_ENDPOINT: s3.endpoint,
    SMN_ENDPOINT: smn.endpoint,
    CTS_AUDIT_PUBLIC_KEY: testKeys().publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    ...userData,
  };
  return {
    getUserData: (k) => data[k],
    getSecurityAccessKey: () => "S3RVER",
    getSecuritySecretKey: () => SK,
    getSecurityToken: () => TOKEN,
    getProjectID: () => smn.projectId,
    getRemainingTimeInMilliSeconds: () => remainingMs,
  };
}

const s3Event = (key: string, shape: "s3" | "obs" = "s3", encode = false) => ({
  Records: [
    {
      eventVersion: "2.0",
      eventSource: "aws:s3",
      eventName: "ObjectCreated:Put",
      [shape]: {
        bucket: { name: BUCKET },
        object: {
          key: encode ? encodeURIComponent(key) : key,
          eTag: "",
          size: bucket.objects.get(key)?.length ?? 0,
        },
      },
    },
  ],
});

describe("handler (FunctionGraph)", () => {
  it("publishes one digest for a new trace file with the context's temporary credentials, and nothing when it is delivered again", async () => {
    const ctx = context({ CTS_AUDIT_STATE: `obs://${BUCKET}/cts-audit-state/run1` });
    const first = await handler(s3Event(files[0]!), ctx);
    expect(first.ok).toBe(true);
    const got = published();
    expect(got).toHaveLength(1);
    expect(got[0]!.headers["x-security-token"]).toBe(TOKEN);
    const text = (JSON.parse(got[0]!.body.message_structure!) as { default: string }).default;
    expect(text).toContain("- 203.0.113.10 (documentation range)  alice (acme): 1 event (login)");
    expect(text).toContain("file integrity: pending");
    expect(first.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 1, suppressed: 0 } });

    const again = await handler(s3Event(files[0]!, "obs", true), ctx);
    expect(again.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 1, suppressed: 1 } });
    expect(published()).toHaveLength(1);
  });

  it("reads nothing for a deletion event: a deleted CTS file is named as removed, the others still scanned", async () => {
    const gone = files[0]!.replace(/_[0-9a-f]{16}\.json\.gz$/, "_00000000000000ee.json.gz");
    const deleted = { ...s3Event(gone).Records[0]!, eventName: "ObjectRemoved:Delete" };
    const otherDeleted = {
      ...s3Event("notes/readme.txt").Records[0]!,
      eventName: "ObjectRemoved:DeleteMarkerCreated",
    };
    const r = await handler({ Records: [deleted, otherDeleted, ...s3Event(files[1]!).Records] }, context({}));
    expect(r.ok).toBe(true);
    expect(r.removed).toEqual([gone]);
    expect(r.ignored).toEqual(["notes/readme.txt"]);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]!.objects).toEqual([files[1]]);
    expect(r.runs[0]!.summary.failed).toBe(0);
  });

  it("takes several records, Records[].obs and URL-encoded keys, and ignores keys that are not CTS files", async () => {
    const event = {
      Records: [
        ...s3Event(files[0]!, "obs", true).Records,
        ...s3Event(files[1]!).Records,
        ...s3Event("cts-audit-state/run1/objects/abc.json").Records,
        ...s3Event("notes/readme.txt").Records,
      ],
    };
    const r = await handler(event, context({}));
    expect(r.ignored).toEqual(["cts-audit-state/run1/objects/abc.json", "notes/readme.txt"]);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]!.objects).toEqual([files[0], files[1]]);
    // One digest per invocation, with both alerts.
    const got = published();
    expect(got).toHaveLength(1);
    expect(got[0]!.body.subject).toMatch(/^cts-audit: 2 alerts from 2 source IPs/);
  });

  it("audits the sample's CTS trigger event as one trace", async () => {
    const cts = makeTrace({
      traceName: "logout",
      sourceIp: "198.51.100.70",
      time: t("2024-07-19T05:00:00Z"),
      user: "carol",
    });
    const r = await handler(
      { cts: { ...cts, user: { name: "carol", id: "u", domain: { name: "acme", id: "d" } } } },
      context({ IP: "198.51.100.7" }),
    );
    expect(r.runs[0]).toMatchObject({ kind: "cts-event", summary: { traces: 1, alerts: 1 } });
    const got = published();
    expect(got).toHaveLength(1);
    expect(got[0]!.body.subject).toContain("1 alert from 1 source IP");
  });

  it("verifies a digest's hour on a digest event, silent when all is valid, alerting when a file was modified", async () => {
    const quiet = await handler(s3Event(digests[1]!), context({}));
    expect(quiet.runs[0]).toMatchObject({ kind: "digest", summary: { integrityViolations: 0 } });
    expect(published()).toHaveLength(0);

    const tampered = new CtsBucket(testKeys().privateKey, BUCKET);
    tampered.put(files[1]!, gzipSync(Buffer.from("[]")));
    await s3.seed(BUCKET, tampered);
    const loud = await handler(s3Event(digests[1]!), context({}));
    expect(loud.runs[0]!.summary.integrityViolations).toBe(1);
    const got = published();
    expect(got).toHaveLength(1);
    expect((JSON.parse(got[0]!.body.message_structure!) as { default: string }).default).toContain(
      `file modified: ${files[1]}`,
    );
    // Put it back for the other tests.
    const restore = new CtsBucket(testKeys().privateKey, BUCKET);
    restore.put(files[1]!, bucket.objects.get(files[1]!)!);
    await s3.seed(BUCKET, restore);
  });

  it("verifies a digest event even when trace scans run with CTS_AUDIT_VERIFY=off", async () => {
    const r = await handler(s3Event(digests[0]!), context({ CTS_AUDIT_VERIFY: "off" }));
    expect(r.error).toBeUndefined();
    expect(r.runs[0]).toMatchObject({ kind: "digest", summary: { integrityViolations: 0 } });
  });

  it("starts no object when the function's time is running out, and says which", async () => {
    const r = await handler(s3Event(files[0]!), context({}, 5_000));
    expect(r.ok).toBe(false);
    expect(r.runs[0]!.notStarted).toEqual([files[0]]);
    expect(published()).toHaveLength(0);
  });

  it("reports a configuration error without throwing", async () => {
    const r = await handler(s3Event(files[0]!), context({ IP: "not-an-ip" }));
    expect(r.ok).toBe(false);
    expect(r.error).toContain('env IP: invalid allowlist entry "not-an-ip"');
  });
});

describe("obsRecords", () => {
  it.each([
    [
      {
        Records: [
          { s3: { bucket: { name: "b" }, object: { key: "a%2Fb+c.json.gz", size: 5, eTag: '"ABC"' } } },
        ],
      },
      [{ bucket: "b", key: "a/b c.json.gz", size: 5, etag: "abc" }],
    ],
    [
      { Records: [{ obs: { bucket: { name: "b" }, object: { key: "k", size: 1 } } }] },
      [{ bucket: "b", key: "k", size: 1, etag: undefined }],
    ],
    [
      { Records: [{ s3: { bucket: { name: "b" }, object: { key: "100%.json" } } }] },
      [{ bucket: "b", key: "100%.json", size: 0, etag: undefined }],
    ],
    [{ Records: [{ s3: { bucket: {}, object: { key: "k" } } }] }, []],
    [{}, []],
    [null, []],
  ])("%j", (event, want) => {
    expect(obsRecords(event)).toEqual(want);
  });
});

const record = (key: unknown, shape: "s3" | "obs" = "s3") => ({
  eventName: "ObjectCreated:Put",
  [shape]: { bucket: { name: BUCKET }, object: { key, size: 1 } },
});

describe("handler: each record stands alone, and nothing makes it throw", () => {
  it("scans the good records of an event and reports each bad one with its index and why", async () => {
    const event = {
      Records: [
        null,
        record(123),
        ...s3Event(files[0]!).Records,
        { s3: record(files[1]).s3, obs: record(files[1]).obs ?? record(files[1], "obs").obs },
        "a string",
        { s3: { bucket: { name: BUCKET }, object: { key: files[1], size: "big" } } },
        {},
        { obs: { bucket: {}, object: { key: files[1] } } },
        { s3: { bucket: { name: BUCKET }, object: null } },
        record(""),
        [],
      ],
    };
    const r = await handler(event, context({}));
    expect(r.rejected).toEqual([
      { index: 0, reason: "the record is null, not an object" },
      { index: 1, reason: "s3.object.key is a number, not an object key" },
      { index: 3, reason: "the record holds both s3 and obs: expected one" },
      { index: 4, reason: "the record is a string, not an object" },
      { index: 5, reason: "s3.object.size is not a size in bytes" },
      { index: 6, reason: "the record has neither s3 nor obs" },
      { index: 7, reason: "obs.bucket.name is not a bucket name" },
      { index: 8, reason: "s3.object is null, not an object" },
      { index: 9, reason: "s3.object.key is empty, not an object key" },
      { index: 10, reason: "the record is an array, not an object" },
    ]);
    expect(r.runs).toHaveLength(1);
    expect(r.runs[0]!.objects).toEqual([files[0]]);
    expect(published()).toHaveLength(1);
    // Something was not done: the result says so.
    expect(r.ok).toBe(false);
    expect(r.error).toBeUndefined();
  });

  it.each([
    [null, /the event is null: expected an OBS trigger event/],
    [undefined, /the event is undefined: expected an OBS trigger event/],
    ["Records", /the event is a string: expected an OBS trigger event/],
    [42, /the event is a number/],
    [[{ s3: {} }], /the event is an array/],
    [{}, /the event has no Records and no cts/],
    [{ Records: "x" }, /the event's Records is a string, not an array of OBS records/],
    [{ Records: { 0: {} } }, /the event's Records is an object, not an array/],
    [{ Records: null }, /the event's Records is null/],
    [{ cts: null }, /the event's cts is null: a CTS trigger event carries one trace object/],
    [{ cts: [] }, /the event's cts is an array/],
    [{ cts: "login" }, /the event's cts is a string/],
  ])("reports the event %j without throwing", async (event, error) => {
    const r = await handler(event, context({}));
    expect(r).toMatchObject({ ok: false, runs: [] });
    expect(r.error).toMatch(error);
  });

  it("does nothing, and says all is well, for an event without records", async () => {
    expect(await handler({ Records: [] }, context({}))).toEqual({
      ok: true,
      ignored: [],
      removed: [],
      rejected: [],
      runs: [],
    });
  });

  it("handles a huge event record by record", async () => {
    const event = {
      Records: [
        ...Array.from({ length: 20_000 }, (_, i) => record(`uploads/${i}.txt`)),
        ...s3Event(files[0]!).Records,
        ...Array.from({ length: 5_000 }, () => null),
      ],
    };
    const r = await handler(event, context({}));
    expect(r.ignored).toHaveLength(20_000);
    expect(r.rejected).toHaveLength(5_000);
    expect(r.rejected[0]).toEqual({ index: 20_001, reason: "the record is null, not an object" });
    expect(r.runs.map((run) => run.objects)).toEqual([[files[0]]]);
  });

  const broken = {
    throws: () => {
      throw new Error("runtime fault");
    },
    "not a function": "a string",
  };
  it.each([
    ["getUserData", "throws", /context\.getUserData\(\) failed: runtime fault/],
    ["getUserData", "not a function", /context\.getUserData is not a function/],
    [
      "getSecurityAccessKey",
      "throws",
      /give the function an agency with OBS read access.*getSecurityAccessKey\(\) failed/,
    ],
    ["getSecuritySecretKey", "not a function", /give the function an agency with OBS read access/],
    ["getProjectID", "throws", /no project ID in the function's context.*getProjectID\(\) failed/],
    ["getSecurityToken", "throws", undefined],
    ["getRemainingTimeInMilliSeconds", "throws", undefined],
    ["getRemainingTimeInMilliSeconds", "not a function", undefined],
    ["getRequestID", "throws", undefined],
  ] as const)("does not throw when context.%s %s", async (method, mode, error) => {
    const ctx = { ...context({}), [method]: broken[mode] } as unknown as FunctionContext;
    const r = await handler(s3Event(files[0]!), ctx);
    if (error) {
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(error);
    } else {
      expect(r.error).toBeUndefined();
      expect(r.runs).toHaveLength(1);
    }
  });

  it.each([null, "context", 7])("does not throw with the context %j", async (ctx) => {
    const r = await handler(s3Event(files[0]!), ctx as unknown as FunctionContext);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/^configuration: /);
  });
});

describe("handler configuration speaks FunctionGraph", () => {
  const privatePem = readFileSync(path.join(root, "fixtures", "keys", "test-private.pem"), "utf8");
  it.each([
    [
      { CTS_AUDIT_VERIFY: "strict" },
      'env CTS_AUDIT_VERIFY: "strict" is not one of off, warn, require: fix it in the function\'s environment variables',
    ],
    [{ CTS_AUDIT_EVENTS: "login,drop table" }, 'env CTS_AUDIT_EVENTS: "drop table" is not a CTS trace name'],
    [
      { OBS_ENDPOINT: "obs.example.com" },
      'env OBS_ENDPOINT: "obs.example.com" is not an http(s) URL (check its scheme, host and port: 1 to 65535): fix it in the function\'s environment variables',
    ],
    [
      { OBS_ENDPOINT: "" },
      "OBS endpoint unknown: set RegionName (or OBS_ENDPOINT) in the function's environment variables",
    ],
    [
      { SMN_ENDPOINT: "" },
      "SMN endpoint unknown: set RegionName (or SMN_ENDPOINT) in the function's environment variables",
    ],
    [{ RegionName: "a b", OBS_ENDPOINT: "" }, 'env RegionName: "a b" is not a region id'],
    [
      { SMN_ENDPOINT: "https://u:SMNENDPOINTPW@127.0.0.1:99999" },
      'env SMN_ENDPOINT: "https://[REDACTED]@127.0.0.1:99999" is not an http(s) URL (check its scheme, host and port',
    ],
    [
      { OBS_ENDPOINT: "https://u:OBSENDPOINTPW@obs.example.com" },
      'env OBS_ENDPOINT: "https://[REDACTED]@obs.example.com" has credentials in it',
    ],
    [{ CTS_AUDIT_EVENTS: ",,," }, 'env CTS_AUDIT_EVENTS: ",,," names no trace'],
    [{ CTS_AUDIT_TIMEOUT: "0.5" }, "CTS_AUDIT_TIMEOUT must be a number of seconds between 1 and 900"],
    [{ SMN_TOPIC_URN: "urn:smn:" }, 'env SMN_TOPIC_URN: "urn:smn:" is not a topic URN'],
    [{ CTS_AUDIT_STATE: "obs://" }, "env CTS_AUDIT_STATE: write obs://bucket/prefix"],
    [
      { CTS_AUDIT_PUBLIC_KEY: privatePem },
      "env CTS_AUDIT_PUBLIC_KEY: this is a private key; give the public key instead",
    ],
    [{ CTS_AUDIT_PUBLIC_KEY: "AAAA" }, "env CTS_AUDIT_PUBLIC_KEY: cannot read public key file AAAA"],
    [{ IP: "10.0.0.0/40" }, 'env IP: invalid allowlist entry "10.0.0.0/40"'],
    [{ CTS_AUDIT_ALLOW: "nowhere" }, 'env CTS_AUDIT_ALLOW: invalid allowlist entry "nowhere"'],
  ])("%j: names the variable and the fix, no command-line flag", async (userData, want) => {
    const r = await handler(s3Event(files[0]!), context(userData));
    expect(r.ok).toBe(false);
    expect(r.error).toContain(want);
    expect(r.error).not.toMatch(/(^|[\s(])--[a-z]/);
    for (const line of privatePem.split("\n").filter((l) => l.length > 16 && !l.startsWith("-")))
      expect(r.error).not.toContain(line.slice(0, 16));
    expect(published()).toHaveLength(0);
  });

  it.each([
    [
      "no agency",
      { getSecurityAccessKey: undefined, getSecuritySecretKey: undefined },
      "no temporary credentials in the function's context: give the function an agency with OBS read access",
    ],
    ["no project", { getProjectID: () => "" }, "no project ID in the function's context: SMN needs it"],
  ])("%s: says what the function lacks", async (_, override, want) => {
    const r = await handler(s3Event(files[0]!), { ...context({}), ...override });
    expect(r.error).toContain(want);
    expect(r.error).not.toMatch(/(^|[\s(])--[a-z]/);
  });

  it("reports every problem at once", async () => {
    const r = await handler(
      s3Event(files[0]!),
      context({ CTS_AUDIT_VERIFY: "x", IP: "y", OBS_ENDPOINT: "z" }),
    );
    // Each variable is named (a problem's own text may hold "; ", so they are not counted by splitting).
    for (const name of ["CTS_AUDIT_VERIFY", "IP", "OBS_ENDPOINT"])
      expect(r.error).toMatch(new RegExp(`\\b${name}\\b`));
  });

  it("needs no OBS for the CTS trigger event, and no SMN without a topic", async () => {
    const cts = makeTrace({
      traceName: "login",
      sourceIp: "203.0.113.99",
      time: t("2024-07-19T05:00:00Z"),
      user: "eve",
    });
    const r = await handler({ cts }, { getUserData: (k) => ({ IP: "192.0.2.0/24" })[k] });
    expect(r.error).toBeUndefined();
    expect(r.runs[0]).toMatchObject({ kind: "cts-event", summary: { alerts: 1 }, notifications: [] });
  });
});

interface Deployed {
  result: HandlerResult;
  logs: Array<{ level: string; message: string } & Record<string, unknown>>;
  lines: string[];
}

/** The built handler (`npm test` builds first) in its own process, as FunctionGraph runs it; its stdout is its log. */
function deployed(event: unknown, userData: Record<string, string>): Promise<Deployed> {
  const script = `
    let input = "";
    for await (const chunk of process.stdin) input += chunk;
    const spec = JSON.parse(input);
    const { handler } = await import(spec.module);
    const result = await handler(spec.event, {
      getUserData: (k) => spec.userData[k],
      getSecurityAccessKey: () => "S3RVER",
      getSecuritySecretKey: () => spec.sk,
      getSecurityToken: () => spec.token,
      getProjectID: () => spec.projectId,
      getRemainingTimeInMilliSeconds: () => 300000,
    });
    process.stdout.write("RESULT " + JSON.stringify(result) + "\\n");`;
  const c = context(userData);
  const spec = {
    module: pathToFileURL(path.join(root, "dist", "handler.js")).href,
    event,
    userData: Object.fromEntries(
      [
        "SMN_Topic",
        "IP",
        "OBS_ENDPOINT",
        "SMN_ENDPOINT",
        "CTS_AUDIT_PUBLIC_KEY",
        ...Object.keys(userData),
      ].map((k) => [k, c.getUserData!(k)]),
    ),
    sk: SK,
    token: TOKEN,
    projectId: smn.projectId,
  };
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ["--input-type=module", "-e", script],
      { env: { PATH: process.env.PATH ?? "" }, maxBuffer: 64 << 20 },
      (err, stdout) => {
        if (err) return reject(err);
        const lines = stdout.trimEnd().split("\n");
        const result = JSON.parse(lines.pop()!.replace(/^RESULT /, "")) as HandlerResult;
        resolve({ result, lines, logs: lines.map((l) => JSON.parse(l) as Deployed["logs"][number]) });
      },
    );
    child.stdin!.end(JSON.stringify(spec));
  });
}

describe("the function's log", () => {
  it("names the alerts of a run (at most 20, then how many more), the bad records and the ignored keys, each line bounded", async () => {
    const event = {
      Records: [
        ...s3Event(crowded).Records,
        null,
        ...Array.from({ length: 1000 }, (_, i) => record(`uploads/${i}.txt`)),
        ...Array.from({ length: 30 }, () => record(7)),
      ],
    };
    // SMN is down: the log is all there is.
    const { result, logs, lines } = await deployed(event, { SMN_ENDPOINT: "http://127.0.0.1:9" });
    expect(result.runs[0]!.summary.alerts).toBe(25);
    const finished = logs.find((l) => l.message.startsWith("trace run finished"))!;
    expect(finished.message).toBe("trace run finished; 20 alerts named, and 5 more");
    expect(finished.moreAlerts).toBe(5);
    const alerts = finished.alerts as Array<Record<string, string>>;
    expect(alerts).toHaveLength(20);
    expect(alerts[0]).toEqual({
      rule: "ip-not-allowed",
      severity: "high",
      sourceIp: "198.51.100.100",
      user: "user0",
      domain: "acme",
      traceName: "login",
      reason: "not-allowlisted",
      time: "2024-07-19T05:10:00.000Z",
      object: crowded,
    });
    expect(new Set(alerts.map((a) => a.sourceIp)).size).toBe(20);

    const rejected = logs.find((l) => l.level === "error" && l.message.includes("records cannot be read"))!;
    expect(rejected.message).toBe(
      "31 of 1032 records cannot be read and were skipped (20 named, and 11 more)",
    );
    expect((rejected.rejected as unknown[])[0]).toEqual({
      index: 1,
      reason: "the record is null, not an object",
    });
    expect(rejected.rejected).toHaveLength(20);

    const ignored = logs.find((l) => l.message.startsWith("ignored"))!;
    expect(ignored.message).toBe(
      "ignored 1000 objects that are not CTS trace or digest files (20 named, and 980 more)",
    );
    expect(ignored.keys).toHaveLength(20);
    for (const line of lines) expect(line.length).toBeLessThan(16_000);
  });
});

describe("the function's rules file (CTS_AUDIT_RULES)", () => {
  const rulesBucket = () => new CtsBucket(testKeys().privateKey, BUCKET);
  async function upload(key: string, text: string): Promise<void> {
    const b = rulesBucket();
    b.put(key, Buffer.from(text));
    await s3.seed(BUCKET, b);
  }
  // files[0] holds alice's login from 203.0.113.10: an alert without rules (see the first test).
  const perUser = "allow:\n  - cidrs: [203.0.113.10/32]\n    users: [alice]\n";

  it("reads an obs:// rules object: a per-user allowance holds, in the function as on the command line", async () => {
    await upload("config/rules.yaml", perUser);
    const r = await handler(
      s3Event(files[0]!),
      context({ CTS_AUDIT_RULES: `obs://${BUCKET}/config/rules.yaml` }),
    );
    expect(r.ok).toBe(true);
    expect(r.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 0, matched: 2 } });
    expect(published()).toHaveLength(0);
  });

  it("reads a rules file in the code package by its path", async () => {
    const file = path.join(tempDir(), "rules.yaml");
    writeFileSync(file, perUser.replace("users: [alice]", "users: [bob]"));
    const r = await handler(s3Event(files[0]!), context({ CTS_AUDIT_RULES: file }));
    expect(r.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 1 } });
  });

  it.each([
    [
      "a bad key",
      "config/bad.yaml",
      "rules:\n  brute-force: { threshold: 1 }\n",
      `env CTS_AUDIT_RULES obs://${BUCKET}/config/bad.yaml: rules.brute-force.threshold: must be a whole number of at least 2`,
    ],
    [
      "an unknown key",
      "config/typo.yaml",
      "rules:\n  owner-logins: {}\n",
      `env CTS_AUDIT_RULES obs://${BUCKET}/config/typo.yaml: rules.owner-logins: unknown key`,
    ],
    [
      "a missing object",
      "config/none.yaml",
      undefined,
      `env CTS_AUDIT_RULES: obs://${BUCKET}/config/none.yaml does not exist`,
    ],
  ])("names %s and the fix, and sends nothing", async (_, key, text, want) => {
    if (text !== undefined) await upload(key, text);
    const r = await handler(s3Event(files[0]!), context({ CTS_AUDIT_RULES: `obs://${BUCKET}/${key}` }));
    expect(r.ok).toBe(false);
    expect(r.error).toContain(want);
    expect(r.error).not.toMatch(/(^|[\s(])--[a-z]/);
    expect(published()).toHaveLength(0);
  });

  it.each([
    [{ CTS_AUDIT_RULES: "obs://" }, "env CTS_AUDIT_RULES: write obs://bucket/path/rules.yaml (an object)"],
    [{ CTS_AUDIT_RULES: "/no/such/rules.yaml" }, "env CTS_AUDIT_RULES: cannot read /no/such/rules.yaml"],
  ])("%j: names the variable and the fix", async (userData, want) => {
    const r = await handler(s3Event(files[0]!), context(userData));
    expect(r.error).toContain(want);
  });
});
