/**
 * A bucket for fan-out shards cut mid-series (README "Organisation-size backfills"): one busy region over four
 * days whose chain crosses every midnight with the cases a cut must judge as one run does, and a quiet second
 * region of two days.
 *
 * Busy region (ap-southeast-1), 2024-07-19 to 2024-07-22, digests every hour at :30:
 * - every day's last file (23:45) is listed only by the next day's first digest (00:30), which lists files of
 *   both days;
 * - the last digest of 07-19 (23:30) has no metadata signature: unanchored in its own day, anchored by the link
 *   from the 00:30 digest of 07-20;
 * - the first digest of 07-22 (00:30) is missing: a missing link and a gap across the 07-21/07-22 midnight, and
 *   07-21's last file listed by nothing;
 * - failed logins of one user at 23:52, 23:54, 23:56 (a 07-20 file) and 00:01, 00:03 (a 07-21 file): a brute-force
 *   whose window straddles the midnight;
 * - a file changed after its digest (07-20), a corrupt one (07-21), and a chain that stops at 20:30 on 07-22 while
 *   files go on (overdue files, a truncated chain).
 */
import type { KeyObject } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { CtsBucket, makeTrace } from "./ctsBucket.js";

export const BUSY = "ap-southeast-1";
export const QUIET = "ap-southeast-2";
export const BRUTE_USER = "mallory";

const H = 3600_000;

export function splitBucket(privateKey: KeyObject, name: string): CtsBucket {
  const bucket = new CtsBucket(privateKey, name);
  const file = (region: string, at: Date, traces: Array<Record<string, unknown>>) =>
    bucket.addTraceFile({ region, uploadTime: at, service: "IAM", traces });
  const login = (at: Date, i: number, region: string) =>
    makeTrace({
      traceName: i % 4 === 3 ? "logout" : "login",
      sourceIp: i % 2 === 0 ? `203.0.113.${i % 250}` : "198.51.100.7",
      time: new Date(at.getTime() - 60_000),
      user: `user-${region}-${i}`,
    });

  let modified = "";
  let i = 0;
  for (let t = Date.parse("2024-07-19T00:40:00Z"); t < Date.parse("2024-07-23T00:00:00Z"); t += 2 * H) {
    const at = new Date(t);
    const key = file(BUSY, at, [login(at, i++, BUSY)]);
    if (at.toISOString() === "2024-07-20T08:40:00.000Z") modified = key;
  }
  for (const day of ["19", "20", "21", "22"]) {
    const at = new Date(`2024-07-${day}T23:45:00Z`);
    file(BUSY, at, [login(at, i++, BUSY)]);
  }
  const failed = (minute: string) =>
    makeTrace({
      traceName: "loginFailed",
      sourceIp: "192.0.2.66",
      time: new Date(`2024-07-2${minute}:00Z`),
      user: BRUTE_USER,
    });
  file(BUSY, new Date("2024-07-20T23:58:00Z"), ["0T23:52", "0T23:54", "0T23:56"].map(failed));
  file(BUSY, new Date("2024-07-21T00:06:00Z"), ["1T00:01", "1T00:03"].map(failed));
  const digests = bucket.addDigests({
    region: BUSY,
    service: "IAM",
    from: new Date("2024-07-18T23:30:00Z"),
    to: new Date("2024-07-22T20:30:00Z"),
  });
  const digest = (end: string) => digests.find((k) => k.includes(`_${end}.json.gz`))!;
  bucket.metadata.delete(digest("2024-07-19T23-30-00Z"));
  bucket.objects.delete(digest("2024-07-22T00-30-00Z"));
  bucket.metadata.delete(digest("2024-07-22T00-30-00Z"));
  // The same traces, other bytes: the digest's hash no longer matches.
  bucket.put(
    modified,
    gzipSync(Buffer.concat([gunzipSync(bucket.objects.get(modified)!), Buffer.from("\n ")])),
  );
  bucket.put(
    `CloudTraces/${BUSY}/2024/07/21/system/IAM/cts_CloudTrace_${BUSY}_2024-07-21T12-30-00Z_a1b2c3d4e5f60718.json.gz`,
    Buffer.from("not gzip"),
  );

  for (let h = 0; h < 6; h++) {
    const at = new Date(Date.parse("2024-07-19T21:10:00Z") + h * H);
    file(QUIET, at, [login(at, i++, QUIET)]);
  }
  bucket.addDigests({
    region: QUIET,
    service: "IAM",
    from: new Date("2024-07-19T21:00:00Z"),
    to: new Date("2024-07-20T03:00:00Z"),
  });
  return bucket;
}
