/**
 * A window's day folders listed side by side against s3rver (through esdk-obs-nodejs): the listing is complete
 * and in key order across many folders and many small pages, and a digest is read in one GET (its metadata from
 * the same response, no HEAD).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObsSource } from "../../src/sources/ObsSource.js";
import { CtsBucket, makeTrace } from "../support/ctsBucket.js";
import { testKeys } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

let s3: S3TestServer;
let bucket: CtsBucket;
const REGION = "CloudTraces/ap-southeast-1/";
const day = (d: number) => new Date(Date.UTC(2024, 6, d));

beforeAll(async () => {
  s3 = await S3TestServer.start(["days"]);
  bucket = new CtsBucket(testKeys().privateKey, "days");
  // July 1st to 20th, a different number of files a day (0 to 7) in two services, so that folders end mid-page,
  // on a page's edge and empty.
  for (let d = 1; d <= 20; d++) {
    for (let f = 0; f < d % 8; f++) {
      for (const service of ["IAM", "ECS"]) {
        const at = new Date(day(d).getTime() + (f + 1) * 2 * 3600_000);
        bucket.addTraceFile({
          service,
          uploadTime: at,
          traces: [makeTrace({ traceName: "login", sourceIp: "203.0.113.7", time: at })],
        });
      }
    }
  }
  bucket.addDigests({ service: "IAM", from: day(5), to: new Date(day(5).getTime() + 3 * 3600_000) });
  // A folder written unpadded (reference: both spellings are read).
  bucket.put(
    `${REGION}2024/7/9/system/IAM/cts_CloudTrace_ap-southeast-1_2024-07-09T01-00-00Z_aaaa.json.gz`,
    Buffer.from("x"),
  );
  await s3.seed("days", bucket);
}, 60_000);
afterAll(() => s3.stop());

const source = (window: { since: Date; until: Date }, pageSize: number) =>
  new ObsSource(`obs://days/${REGION}`, {
    endpoint: s3.endpoint,
    ...S3_CREDENTIALS,
    timeoutSeconds: 10,
    window,
    pageSize,
  });

/** The day folder of a key (padded), from its key: an independent reading of what the window needs. */
function dayOf(key: string): number {
  const m = /\/(\d{4})\/(\d{1,2})\/(\d{1,2})\//.exec(key)!;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
}

describe("ObsSource lists a window's day folders side by side", () => {
  it.each([
    { pageSize: 1, since: 3, until: 17 },
    { pageSize: 3, since: 3, until: 17 },
    { pageSize: 3, since: 1, until: 20 },
    { pageSize: 1000, since: 8, until: 10 },
  ])(
    "complete and in key order: pages of $pageSize, July $since to $until",
    async ({ pageSize, since, until }) => {
      const src = source({ since: day(since), until: new Date(day(until).getTime() + 3600_000) }, pageSize);
      s3.resetPeak();
      const before = s3.counts().list;
      const pages: string[][] = [];
      for await (const page of src.pages()) pages.push(page.map((o) => o.key));
      const listed = pages.flat();
      // One day either side of the window, every object of those folders, in byte order of the key.
      const expected = [...bucket.objects.keys()]
        .filter((k) => dayOf(k) >= day(since - 1).getTime() && dayOf(k) <= day(until + 1).getTime())
        .sort();
      expect(listed).toEqual(expected);
      expect(pages.every((p) => p.length <= pageSize)).toBe(true);
      // Each folder's pages, nothing more: an empty folder is one request, a full one ceil(objects / page).
      const folders = new Map<string, number>();
      for (let d = since - 1; d <= until + 1; d++) {
        const date = day(d);
        const [y, m, dd] = [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
        for (const f of [
          `${y}/${String(m).padStart(2, "0")}/${String(dd).padStart(2, "0")}/`,
          `${y}/${m}/${dd}/`,
        ])
          folders.set(f, [...bucket.objects.keys()].filter((k) => k.startsWith(REGION + f)).length);
      }
      const lists = [...folders.values()].reduce((n, c) => n + Math.max(1, Math.ceil(c / pageSize)), 0);
      expect(s3.counts().list - before).toBe(lists);
      expect(src.requests.list).toBe(lists);
      // Listed side by side: one after another never has two listings open at once.
      expect(s3.peakInFlight).toBeGreaterThan(1);
    },
  );

  it("reads a digest and its signature in one GET, no HEAD", async () => {
    const src = source({ since: day(5), until: day(6) }, 1000);
    const [digestKey] = [...bucket.metadata.keys()];
    const before = s3.counts();
    const { body, metadata } = await src.readWithMetadata(digestKey!, 1 << 20);
    expect(Buffer.isBuffer(body) && body.equals(bucket.objects.get(digestKey!)!)).toBe(true);
    expect(metadata.signature).toBe(bucket.metadata.get(digestKey!)!.signature);
    const after = s3.counts();
    expect({ get: after.get - before.get, head: after.head - before.head }).toEqual({ get: 1, head: 0 });
  });
});
