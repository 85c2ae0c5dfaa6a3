import { exchange, type RawResponse } from "../httpExchange.js";
import { describeError } from "../errors.js";
import type { CloudCredentials } from "../notify/SmnClient.js";
import { signAkSk } from "../notify/signAkSk.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "../retry.js";
import { registerSecrets, safeLine } from "../safeText.js";
import { FanOutError } from "./Manifest.js";

/** A FunctionGraph answer other than 202, with its HTTP status and error code. */
export class FunctionGraphError extends FanOutError {
  constructor(
    readonly status: number,
    readonly fgsCode: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(fgsCode || `HTTP_${status}`, message, options);
  }
}

/** The documented limit of an asynchronous invocation's body. */
export const MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024;

/**
 * Asynchronous invocation of a function (`POST /v2/{project_id}/fgs/functions/{function_urn}/invocations-async`),
 * signed SDK-HMAC-SHA256 by `signAkSk` as SmnClient is. Not `@huaweicloud/huaweicloud-sdk-functiongraph`: it is on
 * the registry, but sends through the core's HTTP client, which logs whole requests (Authorization and
 * X-Security-Token included) on any HTTP error; one endpoint does not justify that risk or the package.
 */
export class FunctionGraphClient {
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  /** Requests sent, for the bench. */
  requests = 0;

  constructor(
    private readonly endpoint: string,
    private readonly cloud: CloudCredentials,
    options: { retry?: RetryPolicy; timeoutMs?: number } = {},
  ) {
    registerSecrets(cloud.accessKeyId, cloud.secretAccessKey, cloud.securityToken);
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Queues one asynchronous invocation; returns FunctionGraph's request id. 429 and 5xx are retried with backoff
   * (the account's concurrency is shared with the OBS trigger); other errors are thrown with the fix.
   */
  async invokeAsync(functionUrn: string, event: object): Promise<string> {
    const body = JSON.stringify(event);
    if (Buffer.byteLength(body) > MAX_ASYNC_PAYLOAD_BYTES)
      throw new FanOutError(
        "PAYLOAD_TOO_LARGE",
        `an asynchronous invocation's body is at most 256 KB; this one is ${Buffer.byteLength(body)} bytes`,
      );
    // The URN goes into the path as is: the signer encodes `:` in the canonical URI (as for SMN's topic URN).
    const path = `/v2/${this.cloud.projectId}/fgs/functions/${functionUrn}/invocations-async`;
    return withRetry(
      this.retry,
      async () => {
        const base = this.endpoint.replace(/\/+$/, "");
        // Signed afresh on each attempt: X-Sdk-Date must be within 15 minutes of the gateway's clock.
        const signed = {
          headers: signAkSk(
            { method: "POST", endpoint: base, path, body, headers: { "Content-Type": "application/json" } },
            this.cloud,
          ),
        };
        this.requests++;
        let response: RawResponse;
        try {
          response = await exchange(
            new URL(base + path),
            "POST",
            signed.headers,
            body,
            this.timeoutMs,
            "FunctionGraph",
          );
        } catch (err) {
          throw new FunctionGraphError(
            0,
            "NETWORK",
            `FunctionGraph invocation failed: ${describeError(err)}`,
            {
              cause: err,
            },
          );
        }
        let parsed: Record<string, unknown> = {};
        try {
          parsed = response.body ? (JSON.parse(response.body) as Record<string, unknown>) : {};
        } catch {
          // A gateway's HTML error page: the status says enough.
        }
        if (response.status >= 300) {
          const code = String(parsed.error_code ?? "");
          const msg = String(parsed.error_msg ?? "");
          const fix =
            response.status === 401 || response.status === 403
              ? ": check the credentials and that they may invoke the function (functiongraph:function:invokeAsync)"
              : response.status === 404
                ? ": check the function URN (--fan-out) and the project"
                : "";
          const e = new FunctionGraphError(
            response.status,
            code,
            `FunctionGraph answered ${response.status}${code ? ` ${code}` : ""}${msg ? `: ${safeLine(msg)}` : ""}${fix}`,
          );
          const retryAfter = Number(response.headers["retry-after"]);
          if (Number.isFinite(retryAfter))
            (e as FunctionGraphError & { retryAfterMs?: number }).retryAfterMs = retryAfter * 1000;
          throw e;
        }
        return String(parsed.request_id ?? "");
      },
      (err) =>
        err instanceof FunctionGraphError && (err.status === 0 || err.status === 429 || err.status >= 500),
      (err) => (err as { retryAfterMs?: number }).retryAfterMs,
    );
  }
}
