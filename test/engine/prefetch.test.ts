/**
 * The engine reads the next unit's listing and digests while the current unit's files are read. Over OBS
 * (s3rver, esdk-obs-nodejs) its report must be the one a run of one unit after another gives: the same records
 * in the same order, the same verdicts across midnight, gaps, missing files and alerts, whatever the
 * concurrency and whichever unit's digests answer first. A backfill downloads only the digests (one GET each,
 * no HEAD) and the files it must parse.
 */
import { describe, expect, it } from "vitest";
import { run } from "../../src/engine/run.js";
import type { Report } from "../../src/report/types.js";
import { ObsSource } from "../../src/sources/ObsSource.js";
import { useCloudServers } from "../support/cloudServers.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { configFor, testKeys } from "../support/harness.js";
import type { S3TestServer } from "../support/s3Server.js";
import { S3_CREDENTIALS } from "../support/s3Server.js";

const BUCKET = "prefetch";
const FROM = new Date("2024-07-29T20:00:00Z");
const TO = new Date("2024-08-02T04:00:00Z");
let s3: S3TestServer;
let bucket: CtsBucket;
const special: Record<string, string> = {};

useCloudServers([BUCKET], async (servers) => {
  s3 = servers.s3;
  bucket = new CtsBucket(testKeys().privateKey, BUCKET);
  // Two regions, three services, a file every 25 minutes (some of them near midnight), hourly digests.
  for (const region of REGIONS) {
    for (let at = FROM.getTime() + 7 * 60_000, i = 0; at < TO.getTime(); at += 40 * 60_000, i++) {
      for (const service of ["IAM", "ECS", "OBS"]) {
        bucket.addTraceFile({
          region,
          service,
          uploadTime: new Date(at),
          traces: [
            makeTrace({
              traceName: service === "IAM" && i % 3 === 0 ? "login" : "createServer",
              sourceIp: `203.0.113.${i % 7}`,
              time: new Date(at - 60_000),
              serviceType: service,
              user: `user${i % 5}`,
            }),
          ],
        });
      }
    }
    for (const service of ["IAM", "ECS", "OBS"]) bucket.addDigests({ region, service, from: FROM, to: TO });
  }
  const keys = [...bucket.objects.keys()];
  const traceKeys = keys.filter((k) => k.includes("_CloudTrace_"));
  // A deleted file (its digest lists it), a file changed after its digest, a file that is not gzip, a digest
  // without its signature, and an object that is not a CTS file.
  special.deleted = traceKeys.find((k) => k.includes("2024/07/30") && k.includes("/ECS/"))!;
  bucket.objects.delete(special.deleted);
  special.changed = traceKeys.find((k) => k.includes("2024/07/31") && k.includes("/OBS/"))!;
  bucket.objects.set(
    special.changed,
    Buffer.concat([bucket.objects.get(special.changed)!, Buffer.from([0])]),
  );
  special.corrupt = traceKeys.find((k) => k.includes("2024/08/01") && k.includes("/IAM/"))!;
  bucket.objects.set(special.corrupt, Buffer.from("not gzip"));
  special.unsigned = keys.find((k) => k.includes("Digest/IAM") && k.includes("2024-07-31T23-00"))!;
  bucket.metadata.delete(special.unsigned);
  bucket.put("CloudTraces/ap-southeast-1/2024/07/30/README.txt", Buffer.from("hello"));
  await s3.seed(BUCKET, bucket);
});

const REGIONS = ["ap-southeast-1", "eu-west-101"];

/** A backfill of July 30th to August 1st, one source a region (each lists its day folders), or one for both. */
async function backfill(concurrency: number, prefetch: boolean, oneSource = false): Promise<Report> {
  // One source over both regions: the series changes mid-listing, and a unit's chain context with it.
  const urls = oneSource
    ? [`obs://${BUCKET}/CloudTraces/`]
    : REGIONS.map((r) => `obs://${BUCKET}/CloudTraces/${r}/`);
  const config = configFor(
    [
      "scan",
      ...urls,
      "--since",
      "2024-07-30T00:00:00Z",
      "--until",
      "2024-08-01T23:59:59Z",
      "--concurrency",
      String(concurrency),
      "--notify",
      "none",
    ],
    {
      OBS_ENDPOINT: s3.endpoint,
      HUAWEICLOUD_SDK_AK: S3_CREDENTIALS.accessKeyId,
      HUAWEICLOUD_SDK_SK: S3_CREDENTIALS.secretAccessKey,
    },
  );
  const sources = urls.map(
    (url) =>
      new ObsSource(url, {
        endpoint: s3.endpoint,
        ...S3_CREDENTIALS,
        timeoutSeconds: 10,
        window: { since: config.since, until: config.until },
      }),
  );
  return run(config, { sources, prefetch });
}

const comparable = (r: Report) => ({ ...r, startedAt: "", finishedAt: "" });

describe("the engine with the next unit read ahead", () => {
  it("reports what one unit after another reports: records, order, verdicts", async () => {
    const reference = await backfill(1, false);
    // The reference is not trivial: every kind of outcome the carry handles is in it.
    const integrity = (key: string) => reference.files.find((f) => f.object === key)?.integrity;
    expect(integrity(special.deleted!)).toBe("missing");
    expect(integrity(special.changed!)).toBe("modified");
    expect(reference.files.find((f) => f.object === special.corrupt)?.status).toBe("failed");
    // Unsigned, the last digest of its day folder: anchored by the next day's first digest, a unit later.
    expect(reference.digests.find((d) => d.object === special.unsigned)?.status).toBe("valid");
    expect(reference.summary.alerts).toBeGreaterThan(10);
    expect(reference.files.filter((f) => f.integrity === "valid").length).toBeGreaterThan(300);

    for (const concurrency of [1, 3, 16]) {
      // The first day's digests answer late: the next unit's, read ahead, are in before them.
      s3.inject({
        kind: "delay",
        method: "GET",
        match: "Digest/IAM/cts_CloudTrace-Digest_ap-southeast-1_2024-07-30T0",
        delayMs: 150,
        times: 3,
      });
      const r = await backfill(concurrency, true);
      s3.clearFaults();
      expect(comparable(r)).toEqual(comparable(reference));
    }
  }, 120_000);

  it("downloads only the digests (one GET each, no HEAD) and the IAM files, listing each day folder once", async () => {
    const before = s3.counts();
    const r = await backfill(8, true);
    const after = s3.counts();
    // What the window needs, read from the bucket: digests uploaded from the window's start to an hour after
    // its end (the last covers its last hour), IAM files uploaded in the window and its hour of grace.
    const since = Date.parse("2024-07-30T00:00:00Z");
    const until = Date.parse("2024-08-01T23:59:59Z");
    const uploaded = (k: string) => {
      const m = /_(\d{4}-\d{2}-\d{2}T\d{2})-(\d{2})-(\d{2})Z/.exec(k)!;
      return Date.parse(`${m[1]}:${m[2]}:${m[3]}Z`);
    };
    const keys = [...bucket.objects.keys()];
    const digests = keys.filter(
      (k) => k.includes("/Digest/") && uploaded(k) >= since && uploaded(k) <= until + 2 * 3600_000,
    );
    const iam = keys.filter(
      (k) =>
        k.includes("/IAM/") &&
        !k.includes("/Digest/") &&
        uploaded(k) >= since &&
        uploaded(k) <= until + 3600_000,
    );
    expect(after.get - before.get).toBe(digests.length + iam.length);
    expect(after.head - before.head).toBe(0);
    // Five day folders a region (a day either side), padded and not.
    expect(after.list - before.list).toBe(2 * 5 * 2);
    expect(r.summary.failed).toBe(1);
  }, 60_000);

  it("starts the next unit's files while a unit's last file is still in flight, and reports the same", async () => {
    const reference = await backfill(4, false);
    // The last file a day folder reads (its last IAM file in listing order) answers late: the slots it leaves
    // idle go to the next day's files, which used to wait until the whole day had settled.
    const day = "CloudTraces/ap-southeast-1/2024/07/30/";
    const slow = [...bucket.objects.keys()]
      .filter((k) => k.startsWith(day) && k.includes("/IAM/") && !k.includes("/Digest/"))
      .sort()
      .at(-1)!;
    const seen = s3.requests.length;
    s3.inject({ kind: "delay", method: "GET", match: slow, delayMs: 1500, times: 1 });
    const r = await backfill(4, true);
    s3.clearFaults();
    expect(comparable(r)).toEqual(comparable(reference));
    const requests = s3.requests.slice(seen);
    const held = requests.find((q) => decodeURIComponent(q.url).includes(slow))!;
    const nextDay = requests.filter((q) =>
      /CloudTraces\/ap-southeast-1\/2024\/07\/31\/.*\/IAM\/cts_CloudTrace_/.test(decodeURIComponent(q.url)),
    );
    expect(nextDay.length).toBeGreaterThan(0);
    // Ordering, not timing: some of the next day's files were asked for before the held file was answered.
    expect(nextDay.some((q) => q.arrived < held.closed)).toBe(true);
  }, 60_000);

  it("reads ahead across a change of region within one source as one unit after another does", async () => {
    const reference = await backfill(3, false, true);
    expect(new Set(reference.files.map((f) => f.object.split("/")[1])).size).toBe(2);
    expect(reference.files.filter((f) => f.integrity === "valid").length).toBeGreaterThan(300);
    for (const concurrency of [2, 16]) {
      const r = await backfill(concurrency, true, true);
      expect(comparable(r)).toEqual(comparable(reference));
    }
  }, 120_000);
});
