import { describe, expect, it } from "vitest";
import { gzipSync } from "node:zlib";
import { handler, obsRecords, type FunctionContext } from "../src/handler.js";
import { CtsBucket, makeTrace } from "./support/ctsBucket.js";
import { testKeys } from "./support/harness.js";
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
    expect(text).toContain("- 203.0.113.10  alice (acme): 1 event (login)");
    expect(text).toContain("file integrity: pending");
    expect(first.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 1, suppressed: 0 } });

    const again = await handler(s3Event(files[0]!, "obs", true), ctx);
    expect(again.runs[0]).toMatchObject({ kind: "trace", summary: { alerts: 1, suppressed: 1 } });
    expect(published()).toHaveLength(1);
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
