import { describeError, NotifyError } from "../errors.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "../retry.js";
import { registerSecrets } from "../safeText.js";
import { signAkSk } from "./signAkSk.js";
import { exchange, type RawResponse } from "../httpExchange.js";

/** AK/SK credentials, temporary ones with a security token. */
export interface CloudCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  securityToken?: string;
  projectId: string;
}

/** `PublishMessageRequestBody` (reference §6.1). */
export interface PublishBody {
  subject?: string;
  message?: string;
  /** JSON text: `{"default": ..., "email": ..., "sms": ...}`. */
  message_structure?: string;
  time_to_live?: string;
}

export interface SmnTopic {
  topic_urn: string;
  name: string;
  display_name?: string;
}

/** An SMN failure with its HTTP status and SMN error code, explained in plain words. */
export class SmnError extends NotifyError {
  constructor(
    readonly status: number,
    readonly smnCode: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(smnCode || `HTTP_${status}`, message, options);
  }
}

const EXPLAIN: Record<string, string> = {
  "SMN.0001":
    "no permission: grant smn:topic:publish (and smn:topic:list to resolve a topic name) to the user or agency",
  "SMN.0005": "the topic URN is invalid: check SMN_TOPIC_URN (urn:smn:<region>:<project_id>:<topic>)",
  "SMN.0006": "topic not found: check SMN_TOPIC_URN or SMN_Topic, the region and the project",
  "SMN.0008": "the subject is invalid (at most 512 bytes)",
  "SMN.0009": "the message is invalid (UTF-8, at most 256 KB)",
  "SMN.0021": "message_structure is invalid (it needs a default body)",
  "SMN.0047": "a value exceeds SMN's maximum length",
  "SMN.0065": "the account's e-mail sending limit is reached",
  "SMN.0057": "the SMS sending limit for a phone number is reached",
  "SMN.0070": "the account is restricted",
  "SMN.0071": "the account is suspended",
};

function explain(status: number, code: string, message: string): string {
  if (EXPLAIN[code]) return `${EXPLAIN[code]} (${code}${message ? `: ${message}` : ""})`;
  if (status === 401) {
    return `authentication failed: check HUAWEICLOUD_SDK_AK/SK (and the security token of temporary credentials) and the clock, which must be within 15 minutes (${code || status}${message ? `: ${message}` : ""})`;
  }
  if (status === 429) return `SMN throttled the request (${code || 429})`;
  return `SMN answered ${status}${code ? ` ${code}` : ""}${message ? `: ${message}` : ""}`;
}

/**
 * A thin typed SMN client: publish and list topics, signed SDK-HMAC-SHA256 by `signAkSk` (the Huawei Cloud SDK
 * core's signer, checked against it, without the core's dependency tree). It sends with Node's http rather than
 * the core's DefaultHttpClient, because that client logs whole requests (Authorization and X-Security-Token
 * included) through log4js on any HTTP error. `@huaweicloud/huaweicloud-sdk-smn` is not on the npm registry.
 */
export class SmnClient {
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;

  constructor(
    private readonly endpoint: string,
    private readonly cloud: CloudCredentials,
    options: { retry?: RetryPolicy; timeoutMs?: number } = {},
  ) {
    registerSecrets(cloud.accessKeyId, cloud.secretAccessKey, cloud.securityToken);
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  private async request<T>(
    method: "GET" | "POST",
    path: string,
    query: Record<string, string>,
    data?: object,
  ): Promise<T> {
    return withRetry(
      this.retry,
      async () => {
        const base = this.endpoint.replace(/\/+$/, "");
        const body = data === undefined ? undefined : JSON.stringify(data);
        // Signed afresh on each attempt: X-Sdk-Date must be within 15 minutes of the gateway's clock.
        const headers = signAkSk(
          {
            method,
            endpoint: base,
            path,
            query,
            body,
            headers: { "Content-Type": "application/json" },
          },
          this.cloud,
        );
        const url = new URL(base + path);
        for (const [k, v] of Object.entries(query)) url.searchParams.append(k, v);
        let response: RawResponse;
        try {
          response = await exchange(url, method, headers, body, this.timeoutMs, "SMN endpoint");
        } catch (err) {
          throw new SmnError(0, "NETWORK", `SMN ${method} ${path} failed: ${describeError(err)}`, {
            cause: err,
          });
        }
        let parsed: Record<string, unknown> = {};
        try {
          parsed = response.body ? (JSON.parse(response.body) as Record<string, unknown>) : {};
        } catch {
          // A gateway's HTML error page: the status says enough.
        }
        if (response.status >= 300) {
          const err = (parsed.error as Record<string, unknown> | undefined) ?? parsed;
          // Error bodies come as {error: {code, message}} or as {error_code, error_msg}: both are read.
          const code = firstString(err, "code", "error_code");
          const message = firstString(err, "message", "error_msg");
          const e = new SmnError(response.status, code, explain(response.status, code, message));
          const retryAfter = Number(response.headers["retry-after"]);
          if (Number.isFinite(retryAfter))
            (e as SmnError & { retryAfterMs?: number }).retryAfterMs = retryAfter * 1000;
          throw e;
        }
        return parsed as T;
      },
      (err) => err instanceof SmnError && (err.status === 0 || err.status === 429 || err.status >= 500),
      (err) => (err as { retryAfterMs?: number }).retryAfterMs,
    );
  }

  /** Publishes one message; returns SMN's message id. */
  async publish(topicUrn: string, body: PublishBody): Promise<{ messageId: string; requestId: string }> {
    // The URN goes into the path as is: the signer encodes `:` as %3A in the canonical URI; encoding it here
    // too would sign a double-encoded path (reference §7 Q12).
    const path = `/v2/${this.cloud.projectId}/notifications/topics/${topicUrn}/publish`;
    const r = await this.request<{ message_id?: string; request_id?: string }>("POST", path, {}, body);
    return { messageId: r.message_id ?? "", requestId: r.request_id ?? "" };
  }

  /** One page of topics. */
  async listTopics(query: {
    offset: number;
    limit: number;
    name?: string;
  }): Promise<{ topics: SmnTopic[]; topicCount: number }> {
    const q: Record<string, string> = { offset: String(query.offset), limit: String(query.limit) };
    if (query.name) q.name = query.name;
    const r = await this.request<{ topics?: SmnTopic[]; topic_count?: number }>(
      "GET",
      `/v2/${this.cloud.projectId}/notifications/topics`,
      q,
    );
    return { topics: r.topics ?? [], topicCount: r.topic_count ?? 0 };
  }

  /** Resolves a topic name to its URN by listing topics (exact name match, every page). */
  async resolveTopicUrn(name: string): Promise<string> {
    const limit = 100;
    for (let offset = 0; ; offset += limit) {
      const page = await this.listTopics({ offset, limit, name });
      const hit = page.topics.find((t) => t.name === name);
      if (hit) return hit.topic_urn;
      if (page.topics.length < limit || offset + limit >= page.topicCount) break;
    }
    throw new SmnError(
      404,
      "SMN.0006",
      explain(404, "SMN.0006", `no topic named ${name} in project ${this.cloud.projectId}`),
    );
  }
}

/** The first of `keys` whose value is a string, or "". */
function firstString(from: Record<string, unknown>, ...keys: string[]): string {
  for (const key of keys) {
    const value = from[key];
    if (typeof value === "string") return value;
  }
  return "";
}
