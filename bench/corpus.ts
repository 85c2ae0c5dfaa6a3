/**
 * A realistic CTS corpus for the benchmark: IAM trace files as CTS writes them (a JSON array, `user` as a JSON
 * string), with field sizes and randomness that give about the 7x gzip ratio of real files. A share of the traces
 * (3% by default) are logins of every kind, failed logins and logouts; the rest are other IAM operations.
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";

const OPERATIONS = [
  "createUser",
  "updateUser",
  "listUsers",
  "getToken",
  "createCredential",
  "keystoneListProjects",
  "updateLoginProtect",
  "createAgency",
  "listPermissions",
  "assumeRole",
];
/**
 * Login-like trace names and their weights: the console login, its failure and the logout are most of them; the
 * other kinds (QR code, OIDC, SSO, federated, SAML, TSI) each occur now and then. Every name of the scan's default
 * events (DEFAULT_EVENTS) is here; the bench checks it.
 */
export const CORPUS_LOGINS: ReadonlyArray<readonly [string, number]> = [
  ["login", 40],
  ["logout", 22],
  ["loginFailed", 14],
  ["scanQRCodeLogin", 2],
  ["oidcLoginSuccess", 2],
  ["iamUserSsoLoginSuccess", 3],
  ["federationLoginNoPwdSuccess", 2],
  ["tenantLoginBySamlSuccess", 2],
  ["cloudLoginBySaml", 2],
  ["tsiLogin", 1],
  ["scanQRCodeLoginFailed", 1],
  ["oidcLoginFailed", 1],
  ["iamUserSsoLoginFailed", 1],
  ["federationLoginNoPwdFailed", 1],
];
const LOGIN_WEIGHT = CORPUS_LOGINS.reduce((n, [, w]) => n + w, 0);

/** The bench's allowlist: logins that should not alert come from it. */
export const CORPUS_ALLOW = "192.0.2.0/24";

/** What a corpus holds besides ordinary IAM operations. */
export interface CorpusMix {
  /** Share of traces that are login-like (logins of every kind, failures, logouts). */
  loginShare: number;
  /** Share of those whose address is outside {@link CORPUS_ALLOW} (the rest are inside it). */
  outsideShare: number;
}

/** The historical corpus: 3% logins, every one from an address outside the allowlist. */
export const LOGINS_3: CorpusMix = { loginShare: 0.03, outsideShare: 1 };
/** The alert-heavy corpus (issue 18): 30% logins, about a third of them from outside the allowlist. */
export const LOGINS_30: CorpusMix = { loginShare: 0.3, outsideShare: 1 / 3 };

/** A small deterministic PRNG, so that every bench run measures the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pickLogin(x: number): string {
  let at = x * LOGIN_WEIGHT;
  for (const [name, weight] of CORPUS_LOGINS) {
    if (at < weight) return name;
    at -= weight;
  }
  return "login";
}

export function makeCorpusTraces(count: number, seed: number, mix: CorpusMix = LOGINS_3): string {
  const r = rng(seed);
  const hex = (n: number) => createHash("sha256").update(String(r())).digest("hex").slice(0, n);
  const ip = () =>
    r() < 0.1
      ? `2001:db8:${Math.floor(r() * 65535).toString(16)}::${Math.floor(r() * 255)}`
      : `${Math.floor(r() * 223) + 1}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 254) + 1}`;
  const parts: string[] = [];
  let time = 1721347200000 + seed * 1000;
  for (let i = 0; i < count; i++) {
    time += Math.floor(r() * 2000);
    const login = r() < mix.loginShare;
    const name = login ? pickLogin(r()) : OPERATIONS[Math.floor(r() * OPERATIONS.length)]!;
    const failed = name.endsWith("Failed");
    const userNo = Math.floor(r() * 200);
    const user = `user-${userNo}`;
    // Accounts have a few hundred users: their ids and keys repeat, as in real files.
    const userId = createHash("md5").update(user).digest("hex");
    const accessKey = `HST${createHash("md5")
      .update(`ak${userNo % 40}`)
      .digest("hex")
      .slice(0, 17)
      .toUpperCase()}`;
    const trace = {
      api_version: "3.0",
      code: login ? (failed ? "401" : "302") : String([200, 201, 204, 400, 403][Math.floor(r() * 5)]),
      domain_id: "b1dd218393794db892fa784b8e1a0bda",
      event_type: "global",
      // Most logins are IAM users'; the account's owner logs in now and then, and a few users have no login
      // protection (the owner-login and login-without-mfa rules fire on those, as in a real account).
      message: login
        ? JSON.stringify({
            login: {
              user_type: r() < 0.08 ? "domain owner" : "iam user",
              login_protect: r() < 0.05 ? { status: "off" } : { status: "on", verification_method: "vmfa" },
              session: hex(32),
            },
          })
        : "",
      operation_id: name,
      project_id: "59336be373624a998b2527fdb9913266",
      read_only: r() < 0.5,
      record_time: time + 17,
      request: login
        ? ""
        : JSON.stringify({
            user: {
              name: user,
              enabled: true,
              description: `managed by team ${userNo % 12}, change ${hex(10)}`,
              email: `${user}@example.com`,
            },
            request_id: hex(32),
          }),
      request_id: hex(32),
      session_id: hex(24),
      resource_id: userId,
      resource_name: user,
      resource_type: "user",
      response: login
        ? ""
        : JSON.stringify({
            user: {
              id: userId,
              name: user,
              links: { self: `https://iam.myhuaweicloud.com/v3/users/${userId}` },
              pwd_status: r() < 0.5,
            },
          }),
      service_type: "IAM",
      source_ip: login && r() >= mix.outsideShare ? `192.0.2.${Math.floor(r() * 254) + 1}` : ip(),
      time,
      trace_id: `${hex(8)}-${hex(4)}-11ef-${hex(4)}-${hex(12)}`,
      trace_name: name,
      trace_rating: failed ? "warning" : "normal",
      trace_type: r() < 0.7 ? "ConsoleAction" : "ApiCall",
      tracker_name: "system",
      // A failed login carries no user id (reference §2.4).
      user: JSON.stringify({
        name: user,
        id: failed ? undefined : userId,
        domain: { name: "acme", id: "b1dd218393794db892fa784b8e1a0bda" },
        access_key_id: accessKey,
        principal_urn: `iam::b1dd2183:user:${user}`,
        type: "User",
      }),
      user_agent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/${120 + (userNo % 6)}.0.0.0`,
    };
    parts.push(JSON.stringify(trace));
  }
  return `[${parts.join(",")}]`;
}

/** Writes `files` trace files of about `bytesEach` decompressed bytes under a bucket-like layout; returns their total size. */
export function writeCorpus(
  dir: string,
  files: number,
  bytesEach: number,
  seed = 1,
  mix: CorpusMix = LOGINS_3,
): { compressed: number; decompressed: number } {
  const folder = path.join(dir, "CloudTraces", "ap-southeast-1", "2024", "07", "19", "system", "IAM");
  mkdirSync(folder, { recursive: true });
  const perTrace = 1150;
  let compressed = 0;
  let decompressed = 0;
  for (let i = 0; i < files; i++) {
    const json = Buffer.from(
      makeCorpusTraces(Math.max(1, Math.round(bytesEach / perTrace)), seed * 100000 + i, mix),
    );
    const gz = gzipSync(json, { level: 6 });
    const ts = new Date(Date.UTC(2024, 6, 19, 0, 0, 0) + i * 1000)
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z")
      .replace(/:/g, "-");
    writeFileSync(
      path.join(folder, `bench_CloudTrace_ap-southeast-1_${ts}_${String(i).padStart(16, "0")}.json.gz`),
      gz,
    );
    compressed += gz.length;
    decompressed += json.length;
  }
  return { compressed, decompressed };
}
