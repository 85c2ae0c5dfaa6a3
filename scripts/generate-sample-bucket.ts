/**
 * Regenerates fixtures/sample-bucket: a small, realistic CTS bucket that `npm start` scans.
 *
 *   npm run fixtures
 *
 * Three services' chains (IAM, ECS and CTS) over four hours across a day boundary, hourly digests signed with the
 * committed test key (fixtures/keys, test-only, never a real CTS key), unauthorized logins including an IPv6 one
 * and an SSO one, a failed login, a logout, the 198.51.100.7 vs 198.51.100.70 substring trap, allowlisted office
 * traffic, and one alert of every per-trace rule: the account owner logging in without login protection (from the
 * office: owner-login and login-without-mfa, no ip-not-allowed), a deleted and a disabled CTS tracker (audit-tamper)
 * next to a tracker update that keeps it on (no alert).
 * One IAM file is newer than every digest, so it shows as `pending`. Output is deterministic.
 */
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { CtsBucket, makeTrace, resetTraceIds } from "../test/support/ctsBucket.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const keyDir = path.join(root, "fixtures", "keys");
const privatePem = path.join(keyDir, "test-private.pem");
const publicPem = path.join(keyDir, "test-public.pem");
if (!existsSync(privatePem)) {
  mkdirSync(keyDir, { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(privatePem, privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(publicPem, publicKey.export({ type: "spki", format: "pem" }));
}
const key = createPrivateKey(readFileSync(privatePem));

/** Builds the sample bucket in memory (deterministic: the same bytes every time). */
export function sampleBucket(): CtsBucket {
  resetTraceIds();
  const bucket = new CtsBucket(key, "acme-cts-audit");
  const t = (iso: string) => new Date(iso);
  const OFFICE = ["192.0.2.10", "192.0.2.44", "2001:db8:cafe::12"];

  // Hour by hour, 2024-07-18 22:00 to 2024-07-19 02:00 UTC: two IAM files and one ECS file an hour.
  const hours = ["2024-07-18T22", "2024-07-18T23", "2024-07-19T00", "2024-07-19T01"];
  const unauthorized: Record<string, Array<Parameters<typeof makeTrace>[0]>> = {
    "2024-07-18T22": [
      { traceName: "login", sourceIp: "203.0.113.7", time: t("2024-07-18T22:08:47.589Z"), user: "alice" },
    ],
    "2024-07-18T23": [
      {
        traceName: "loginFailed",
        sourceIp: "198.51.100.23",
        time: t("2024-07-18T23:41:02.120Z"),
        user: "alice",
      },
      {
        traceName: "loginfailed",
        sourceIp: "198.51.100.23",
        time: t("2024-07-18T23:41:40.733Z"),
        user: "alice",
      },
    ],
    "2024-07-19T00": [
      {
        traceName: "login",
        sourceIp: "2001:db8:bad::17",
        time: t("2024-07-19T00:12:30.004Z"),
        user: "bob",
        domain: "acme",
      },
      { traceName: "logout", sourceIp: "203.0.113.7", time: t("2024-07-19T00:20:11.900Z"), user: "alice" },
      // The account owner (root), from the office, with login protection off.
      {
        traceName: "login",
        sourceIp: "192.0.2.44",
        time: t("2024-07-19T00:25:00.000Z"),
        user: "acme",
        extra: {
          message: JSON.stringify({ login: { user_type: "domain owner", login_protect: { status: "off" } } }),
          user_agent: "Mozilla/5.0 (X11; Linux x86_64)",
        },
      },
    ],
    "2024-07-19T01": [
      // The original sample's substring trap: 198.51.100.7 is allowlisted, 198.51.100.70 is not.
      { traceName: "login", sourceIp: "198.51.100.70", time: t("2024-07-19T01:05:00.000Z"), user: "carol" },
      // An SSO login: audited by default (the original sample saw only login, logout and loginFailed).
      {
        traceName: "iamUserSsoLoginSuccess",
        sourceIp: "203.0.113.7",
        time: t("2024-07-19T01:09:30.000Z"),
        user: "alice",
      },
    ],
  };
  for (const hour of hours) {
    for (const [i, minute] of ["14", "44"].entries()) {
      const upload = t(`${hour}:${minute}:12Z`);
      const base = upload.getTime() - 10 * 60_000;
      const traces = [
        makeTrace({ traceName: "login", sourceIp: OFFICE[i % 3]!, time: new Date(base), user: "dave" }),
        makeTrace({
          traceName: "createUser",
          sourceIp: "203.0.113.99",
          time: new Date(base + 60_000),
          user: "dave",
        }),
        makeTrace({
          traceName: "login",
          sourceIp: "198.51.100.7",
          time: new Date(base + 90_000),
          user: "erin",
        }),
        makeTrace({
          traceName: "logout",
          sourceIp: OFFICE[(i + 2) % 3]!,
          time: new Date(base + 120_000),
          user: "dave",
        }),
      ];
      if (i === 1) traces.push(...(unauthorized[hour] ?? []).map(makeTrace));
      traces.push(...windowedPatternTraces(hour, i));
      bucket.addTraceFile({ service: "IAM", uploadTime: upload, traces });
    }
    bucket.addTraceFile({
      service: "ECS",
      uploadTime: t(`${hour}:31:05Z`),
      traces: [
        makeTrace({
          traceName: "createServer",
          sourceIp: "203.0.113.50",
          time: t(`${hour}:22:00Z`),
          serviceType: "ECS",
          user: "ops",
        }),
        // An ECS trace named like a login must never be audited: service_type is not IAM.
        makeTrace({
          traceName: "login",
          sourceIp: "203.0.113.51",
          time: t(`${hour}:23:00Z`),
          serviceType: "ECS",
          user: "ops",
        }),
      ],
    });
  }
  // CTS's own operations on the trail: a tracker deleted and one disabled (audit-tamper), one kept on (no alert).
  const tracker = (name: string, time: string, request?: Record<string, unknown>) =>
    makeTrace({
      traceName: name,
      sourceIp: "192.0.2.77",
      time: t(time),
      serviceType: "CTS",
      user: "mallory",
      extra: { resource_type: "tracker", ...(request ? { request: JSON.stringify(request) } : {}) },
    });
  bucket.addTraceFile({
    service: "CTS",
    uploadTime: t("2024-07-19T00:52:40Z"),
    traces: [
      tracker("updateTracker", "2024-07-19T00:40:00.000Z", {
        tracker_name: "system",
        status: "enabled",
        is_support_validate: true,
      }),
      tracker("updateTracker", "2024-07-19T00:41:00.000Z", {
        tracker_name: "data-trail",
        status: "disabled",
      }),
      tracker("deleteTracker", "2024-07-19T00:42:00.000Z"),
    ],
  });
  bucket.addDigests({ service: "IAM", from: t("2024-07-18T22:00:00Z"), to: t("2024-07-19T02:00:00Z") });
  bucket.addDigests({ service: "CTS", from: t("2024-07-18T22:00:00Z"), to: t("2024-07-19T02:00:00Z") });
  bucket.addDigests({ service: "ECS", from: t("2024-07-18T22:00:00Z"), to: t("2024-07-19T02:00:00Z") });
  // Uploaded after the last digest: pending until the 03:00 digest lands.
  bucket.addTraceFile({
    service: "IAM",
    uploadTime: t("2024-07-19T02:14:12Z"),
    traces: [
      makeTrace({
        traceName: "login",
        sourceIp: "203.0.113.7",
        time: t("2024-07-19T02:03:55.000Z"),
        user: "alice",
      }),
    ],
  });
  return bucket;
}

/**
 * The windowed rules' patterns (issue 14), one alert of each, from allowlisted addresses (a guessing run from the
 * office VPN passes `ip-not-allowed`), placed in the IAM files of the loop above so that each window crosses files,
 * and midnight (two day folders, two units):
 * - `brute-force`: frank fails 4 times in 14 minutes from the office's 192.0.2.10 (23:38 to 23:52);
 * - `password-spray`: the admin's 198.51.100.7 fails against grace, heidi and ivan within 58 minutes;
 * - `failures-then-success`: judy fails 3 times from the office's IPv6, then logs in 25 minutes later.
 * @param hour the file's hour (`2024-07-18T23`); `i` its index in the hour (0: :14, 1: :44)
 */
function windowedPatternTraces(hour: string, i: number): Array<Record<string, unknown>> {
  const failed = (user: string, sourceIp: string, time: string) =>
    makeTrace({ traceName: "loginFailed", sourceIp, time: new Date(time), user });
  const byFile: Record<string, Array<() => Record<string, unknown>>> = {
    "2024-07-18T23/1": [
      () => failed("grace", "198.51.100.7", "2024-07-18T23:20:00.000Z"),
      () => failed("frank", "192.0.2.10", "2024-07-18T23:38:00.000Z"),
      () => failed("frank", "192.0.2.10", "2024-07-18T23:41:00.000Z"),
    ],
    "2024-07-19T00/0": [
      () => failed("frank", "192.0.2.10", "2024-07-18T23:47:00.000Z"),
      () => failed("frank", "192.0.2.10", "2024-07-18T23:52:00.000Z"),
      () => failed("heidi", "198.51.100.7", "2024-07-18T23:55:00.000Z"),
    ],
    "2024-07-19T00/1": [
      () => failed("ivan", "198.51.100.7", "2024-07-19T00:18:00.000Z"),
      () => failed("judy", "2001:db8:cafe::12", "2024-07-19T00:31:00.000Z"),
      () => failed("judy", "2001:db8:cafe::12", "2024-07-19T00:35:00.000Z"),
      () => failed("judy", "2001:db8:cafe::12", "2024-07-19T00:40:00.000Z"),
    ],
    "2024-07-19T01/0": [
      () =>
        makeTrace({
          traceName: "login",
          sourceIp: "2001:db8:cafe::12",
          time: new Date("2024-07-19T01:05:00.000Z"),
          user: "judy",
        }),
    ],
  };
  return (byFile[`${hour}/${i}`] ?? []).map((make) => make());
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const bucket = sampleBucket();
  const out = path.join(root, "fixtures", "sample-bucket");
  rmSync(out, { recursive: true, force: true });
  bucket.writeTo(out);
  console.log(`wrote ${bucket.objects.size} objects to ${path.relative(root, out)}`);
}
