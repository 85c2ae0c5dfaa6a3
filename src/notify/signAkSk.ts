/**
 * Huawei Cloud AK/SK request signing, `SDK-HMAC-SHA256` (reference §6.4), on node:crypto alone.
 *
 * Why not the SDK's signer: `@huaweicloud/huaweicloud-sdk-core` brings moment, lodash, axios, log4js and ramda
 * (13.7 MB, 3,165 files) into the FunctionGraph zip for one HMAC, and loading it is a good part of a cold start.
 * This is the SDK's `BasicCredentials.processAuthRequest` + `AKSKSigner.sign` for the requests cts-audit sends
 * (JSON bodies, no derived-key signing): test/notify/signAkSk.test.ts checks it against the documented test vector,
 * against the SDK's own output over generated requests (the SDK stays a development dependency for that), and
 * against the test SMN endpoint's verifier.
 */
import { createHash, createHmac } from "node:crypto";
import { NotifyError } from "../errors.js";
import { registerRequestSignature } from "../safeText.js";

/** A request to sign: `path` is the raw path (a topic URN's `:` unencoded), `query` unencoded values. */
export interface AkSkRequest {
  method: string;
  /** `scheme://host[:port]`, no path. */
  endpoint: string;
  path: string;
  query?: Record<string, string>;
  /** The body exactly as it will be sent (its SHA-256 is signed), or undefined for none. */
  body?: string;
  /** Headers to send and sign besides the ones added here (the SDK signs every header it sends). */
  headers?: Record<string, string>;
}

/** The credentials: a security token for temporary ones; a project id becomes `X-Project-Id`. */
export interface AkSkCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  securityToken?: string;
  projectId?: string;
}

const ALGORITHM = "SDK-HMAC-SHA256";
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/**
 * RFC 3986 encoding of UTF-8 with only the unreserved characters kept, as the SDK's `AKSKSigner.urlEncode`:
 * encodeURIComponent also keeps `!'()*`, which the gateway's canonical form encodes.
 */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `YYYYMMDDTHHMMSSZ` in UTC, the `X-Sdk-Date` format. */
export function sdkDate(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z");
}

/**
 * The headers to send with `request`, signed: the request's own, `X-Project-Id` and `X-Security-Token` when set,
 * `X-Sdk-Date` (from `at`, unless the request carries one), `host`, and `Authorization`.
 */
export function signAkSk(
  request: AkSkRequest,
  credentials: AkSkCredentials,
  at: Date = new Date(),
): Record<string, string> {
  if (!credentials.accessKeyId || !credentials.secretAccessKey)
    throw new NotifyError(
      "CREDENTIALS",
      "AK/SK signing needs an access key id and a secret access key: set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (in a function, give it an agency)",
    );
  const headers: Record<string, string> = {};
  if (credentials.securityToken) headers["X-Security-Token"] = credentials.securityToken;
  if (credentials.projectId) headers["X-Project-Id"] = credentials.projectId;
  Object.assign(headers, request.headers);
  const names = Object.keys(headers);
  const dateName = names.find((n) => n.toLowerCase() === "x-sdk-date");
  if (dateName === undefined) headers["X-Sdk-Date"] = sdkDate(at);
  const date = headers[dateName ?? "X-Sdk-Date"]!;
  if (!names.some((n) => n.toLowerCase() === "host")) headers.host = new URL(request.endpoint).host;

  // Header names are case-insensitive; a request never carries two spellings of one (the SDK would sign both).
  const signed = Object.keys(headers)
    .map((name) => [name.toLowerCase(), headers[name]!] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const signedNames = signed.map(([n]) => n).join(";");
  const canonicalHeaders = signed.map(([n, v]) => `${n}:${v}\n`).join("");

  let uri = request.path.split("/").map(encodeRfc3986).join("/");
  if (!uri.endsWith("/")) uri += "/";
  const query = Object.keys(request.query ?? {})
    .sort()
    .map((k) => `${encodeRfc3986(k)}=${encodeRfc3986(request.query![k]!)}`)
    .join("&");
  const contentSha = signed.find(([n]) => n === "x-sdk-content-sha256")?.[1];
  const payloadHash = contentSha ?? (request.body ? sha256(request.body) : EMPTY_SHA256);

  const canonical = [request.method, uri, query, canonicalHeaders, signedNames, payloadHash].join("\n");
  const toSign = `${ALGORITHM}\n${date}\n${sha256(canonical)}`;
  const signature = createHmac("sha256", credentials.secretAccessKey).update(toSign).digest("hex");
  // An endpoint may echo it back bare in an error body, where no pattern can tell it from other hex.
  registerRequestSignature(signature);
  headers.Authorization = `${ALGORITHM} Access=${credentials.accessKeyId}, SignedHeaders=${signedNames}, Signature=${signature}`;
  return headers;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}
