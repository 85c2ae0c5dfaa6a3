import { listObjects } from "../../src/sources/types.js";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObsSource } from "../../src/sources/ObsSource.js";
import { CtsBucket, makeTrace, md5Hex } from "../support/ctsBucket.js";
import { testKeys } from "../support/harness.js";
import { S3_CREDENTIALS, S3TestServer } from "../support/s3Server.js";

let s3: S3TestServer;
const fast = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 };
const source = (url: string, window?: { since?: Date; until?: Date }) =>
  new ObsSource(url, { endpoint: s3.endpoint, ...S3_CREDENTIALS, retry: fast, timeoutSeconds: 5, window });

let bucket: CtsBucket;
const BIG = randomBytes(512 * 1024);
beforeAll(async () => {
  s3 = await S3TestServer.start(["many", "cts"]);
  // 1,050 objects: more than one listing page.
  const many = new CtsBucket(testKeys().privateKey);
  for (let i = 0; i < 1050; i++)
    many.put(`objects/${String(i).padStart(5, "0")}.txt`, Buffer.from(`object ${i}`));
  many.put("large/big.bin", BIG);
  await s3.seed("many", many);
  bucket = new CtsBucket(testKeys().privateKey, "cts");
  for (const day of ["2024-07-17", "2024-07-18", "2024-07-19", "2024-07-20"]) {
    bucket.addTraceFile({
      uploadTime: new Date(`${day}T10:00:00Z`),
      traces: [
        makeTrace({ traceName: "login", sourceIp: "203.0.113.7", time: new Date(`${day}T09:59:00Z`) }),
      ],
    });
  }
  bucket.addDigests({
    service: "IAM",
    from: new Date("2024-07-19T09:00:00Z"),
    to: new Date("2024-07-19T11:00:00Z"),
  });
  await s3.seed("cts", bucket);
}, 60_000);
afterAll(() => s3.stop());

async function keysOf(src: ObsSource) {
  const out = [];
  for await (const o of listObjects(src)) out.push(o);
  return out;
}

describe("ObsSource against s3rver", () => {
  it("lists every object across pages, in key order, with ETags", async () => {
    const src = source("obs://many/objects/");
    const listed = await keysOf(src);
    expect(listed).toHaveLength(1050);
    expect(listed.map((o) => o.key)).toEqual([...listed.map((o) => o.key)].sort());
    expect(listed[7]).toMatchObject({
      key: "objects/00007.txt",
      size: 8,
      etag: md5Hex(Buffer.from("object 7")),
    });
    expect(src.requests.list).toBe(2);
  });

  it("streams an object and reads digest metadata", async () => {
    const src = source("obs://cts");
    const [digestKey] = [...bucket.metadata.keys()];
    const chunks: Buffer[] = [];
    for await (const c of await src.open(digestKey!)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks)).toEqual(bucket.objects.get(digestKey!));
    const meta = await src.metadata(digestKey!);
    expect(meta.signature).toBe(bucket.metadata.get(digestKey!)!.signature);
  });

  it("reads an object whole in one GET, and streams the rest on when it outgrew the listing", async () => {
    const src = source("obs://many/objects/");
    const key = "objects/00123.txt";
    const whole = await src.read(key, 10);
    expect(Buffer.isBuffer(whole) && whole.toString()).toBe("object 123");
    // Listed smaller than it is: what was read goes first, the rest follows, and it is one GET all the same.
    const gets = src.requests.get;
    const streamed = await src.read(key, 4);
    expect(Buffer.isBuffer(streamed)).toBe(false);
    const chunks: Buffer[] = [];
    for await (const c of streamed as AsyncIterable<Buffer>) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe("object 123");
    expect(src.requests.get - gets).toBe(1);
  });

  it("fails a whole read that breaks part-way with a READ error, to be read again", async () => {
    const src = source("obs://many/large/");
    // Cut well into the body: the object has been handed over as a stream by then.
    s3.inject({ kind: "reset", method: "GET", match: "large/big.bin", afterBytes: 100_000, times: 1 });
    await expect(src.read("large/big.bin", BIG.length)).rejects.toMatchObject({ code: "READ" });
    const again = await src.read("large/big.bin", BIG.length);
    expect(Buffer.isBuffer(again) && again.equals(BIG)).toBe(true);
  });

  it("retries 503s on listing and reading, then succeeds", async () => {
    s3.inject({ kind: "status", status: 503, method: "GET", match: "/many", times: 2 });
    const listed = await keysOf(source("obs://many/objects/"));
    expect(listed).toHaveLength(1050);
    s3.inject({ kind: "status", status: 503, method: "GET", match: "00003.txt", times: 3 });
    const chunks: Buffer[] = [];
    for await (const c of await source("obs://many").open("objects/00003.txt")) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe("object 3");
  });

  it("reports a missing object and a missing bucket clearly, without retrying them", async () => {
    const before = s3.requests.length;
    await expect(source("obs://cts").open("nope.json.gz")).rejects.toThrow(
      /get nope\.json\.gz failed: 404 NoSuchKey/,
    );
    expect(s3.requests.length - before).toBe(1);
    await expect(keysOf(source("obs://no-such-bucket"))).rejects.toThrow(
      /404 NoSuchBucket.*check the bucket name/,
    );
  });

  it("narrows the listing to the day folders a window needs", async () => {
    const src = source("obs://cts/CloudTraces/ap-southeast-1/", {
      since: new Date("2024-07-19T00:00:00Z"),
      until: new Date("2024-07-19T23:00:00Z"),
    });
    const listed = await keysOf(src);
    const days = new Set(listed.map((o) => /\/(\d{4}\/\d{2}\/\d{2})\//.exec(o.key)![1]));
    // One day either side of the window, never the whole bucket.
    expect([...days].sort()).toEqual(["2024/07/18", "2024/07/19", "2024/07/20"]);
    expect(listed.some((o) => o.key.includes("2024/07/17"))).toBe(false);
    // Padded and unpadded spellings of each of the three days.
    expect(src.requests.list).toBe(6);
  });

  it("lists the whole prefix when the store shows no folders (s3rver has no delimiter support)", async () => {
    const src = source("obs://cts/CloudTraces/", { since: new Date("2024-07-19T00:00:00Z") });
    const listed = await keysOf(src);
    expect(listed.length).toBe(bucket.objects.size);
  });
});
