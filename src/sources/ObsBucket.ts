import ObsClient from "esdk-obs-nodejs";
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import { describeError, SourceError } from "../errors.js";
import { DEFAULT_RETRY, withRetry, type RetryPolicy } from "../retry.js";
import { registerSecrets, safeLine } from "../safeText.js";

/** Credentials and endpoint for OBS. */
export interface ObsConnection {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  securityToken?: string;
  /** Seconds the SDK waits for a response. */
  timeoutSeconds?: number;
  retry?: RetryPolicy;
  /** Keys a listing page asks for (OBS's maximum, 1,000, unless a test wants many small pages). */
  pageSize?: number;
}

/** An OBS error with the HTTP status, for retry decisions and messages. */
export class ObsError extends SourceError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ESOCKETTIMEDOUT",
]);

/** 5xx, 429, timeouts and connection failures are worth another try; 403 or 404 are not. */
export function isTransientObsError(err: unknown): boolean {
  if (err instanceof ObsError) return err.status === 0 || err.status === 429 || err.status >= 500;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === "string" && TRANSIENT_CODES.has(code)) return true;
  return /socket hang up|timeout|ECONNRESET|network/i.test(describeError(err));
}

/** One listed object. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

/** Requests sent, by operation: the backfill-efficiency bench and tests read them. */
export interface RequestCounts {
  list: number;
  get: number;
  head: number;
  put: number;
  delete: number;
}

/** Per-request hooks of esdk-obs-nodejs (`RequestHook`, `ResponseHook`): the request and response it sends. */
interface SdkHooks {
  RequestHook: (req: http.ClientRequest) => void;
  ResponseHook: (res: http.IncomingMessage) => void;
}

/**
 * An HTTP(S) agent whose every socket has an idle deadline: a socket that neither sends nor receives for
 * `timeoutMs` is destroyed with an error naming the endpoint. esdk-obs-nodejs's own `timeout` only calls back with
 * ETIMEDOUT and leaves the request, its socket and any response stream open (lib/utils.js `req.setTimeout`): a
 * server that accepts and never answers then keeps the process alive forever, and a GET whose body stalls mid-way
 * never ends. Going through the agent covers every socket the SDK opens, its signature negotiation included.
 * Keep-alive: a backfill sends thousands of requests, and a new connection for each costs a TCP (and, over HTTPS,
 * a TLS) handshake, round trips that the 30 ms of a distant endpoint multiply. The agent's `timeout` is what Node
 * sets again on a socket it puts back in the pool (and the idle deadline then closes a pooled socket quietly);
 * pooled sockets are unreferenced, so they never keep the process alive.
 */
function deadlineAgent(secure: boolean, timeoutMs: number, endpoint: string): http.Agent {
  const options = { keepAlive: true, timeout: timeoutMs };
  const agent = secure ? new https.Agent(options) : new http.Agent(options);
  const create = agent.createConnection.bind(agent) as (...args: unknown[]) => Socket;
  (agent as unknown as { createConnection: (...args: unknown[]) => Socket }).createConnection = (...args) => {
    const socket = create(...args);
    socket.setTimeout(timeoutMs);
    socket.on("timeout", () => {
      // Data waiting in the response's buffer means the reader is behind, not the server: wait on.
      const res = (socket as unknown as { _httpMessage?: { res?: http.IncomingMessage } })._httpMessage?.res;
      if (res && !res.destroyed && res.readableLength > 0) {
        socket.setTimeout(timeoutMs);
        return;
      }
      const err = new ObsError(
        0,
        "TIMEOUT",
        `no answer from OBS endpoint ${endpoint} within ${timeoutMs / 1000} s`,
      );
      // The response first, so that its reader sees this error rather than a bare "aborted".
      if (res && !res.complete) res.destroy(err);
      socket.destroy(err);
    });
    return socket;
  };
  return agent;
}

function lowerKeys(metadata: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata ?? {})) out[k.toLowerCase()] = String(v);
  return out;
}

type SdkResult<T> = {
  CommonMsg: { Status: number; Code: string; Message: string };
  InterfaceResult: T | null;
};

/**
 * One OBS bucket through esdk-obs-nodejs, the only module that talks to the SDK. Every call is retried with
 * jittered exponential backoff on transient failures; the SDK's own retry is off because it does not cover a
 * stream that breaks after the headers, which the engine retries by reading the object again.
 */
export class ObsBucket {
  readonly requests: RequestCounts = { list: 0, get: 0, head: 0, put: 0, delete: 0 };
  private readonly client: ObsClient;
  private readonly ready: Promise<void>;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly endpoint: string;
  private readonly agents: http.Agent[];
  private readonly pageSize: number;

  constructor(
    readonly name: string,
    connection: ObsConnection,
  ) {
    registerSecrets(connection.accessKeyId, connection.secretAccessKey, connection.securityToken);
    this.retry = connection.retry ?? DEFAULT_RETRY;
    this.timeoutMs = (connection.timeoutSeconds ?? 60) * 1000;
    this.endpoint = safeLine(connection.endpoint);
    this.pageSize = connection.pageSize ?? 1000;
    this.agents = [
      deadlineAgent(false, this.timeoutMs, this.endpoint),
      deadlineAgent(true, this.timeoutMs, this.endpoint),
    ];
    const client = new ObsClient({
      access_key_id: connection.accessKeyId,
      secret_access_key: connection.secretAccessKey,
      security_token: connection.securityToken,
      server: connection.endpoint,
      max_retry_count: 0,
      timeout: connection.timeoutSeconds ?? 60,
      http_agent: this.agents[0],
      https_agent: this.agents[1],
    } as ConstructorParameters<typeof ObsClient>[0]);
    this.client = client;
    // `new ObsClient()` finishes initialising asynchronously: a call in the same tick throws
    // "Cannot read properties of null (reading 'signature')". Wait until its server is set.
    this.ready = (async () => {
      for (let i = 0; i < 200 && !client.util?.server; i++)
        await new Promise((resolve) => setTimeout(resolve, 5));
    })();
  }

  /** Closes every socket still open (normally none: each closes when its request ends or stalls). */
  close(): void {
    for (const agent of this.agents) agent.destroy();
  }

  /**
   * One SDK call with a deadline: no answer (headers, and the whole body for what the SDK reads itself) within
   * the timeout destroys the request and fails with an error naming the endpoint. A stream's body is guarded by
   * the agent's idle deadline.
   */
  private withDeadline<T>(fn: (hooks: SdkHooks) => Promise<SdkResult<T>>): Promise<SdkResult<T>> {
    let req: http.ClientRequest | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new ObsError(
          0,
          "TIMEOUT",
          `no answer from OBS endpoint ${this.endpoint} within ${this.timeoutMs / 1000} s`,
        );
        req?.destroy(err);
        reject(err);
      }, this.timeoutMs);
    });
    const hooks: SdkHooks = {
      RequestHook: (r) => {
        req = r;
      },
      ResponseHook: () => undefined,
    };
    const sent = fn(hooks);
    return Promise.race([sent, deadline]).then(
      (result) => {
        clearTimeout(timer);
        return result;
      },
      (err: unknown) => {
        clearTimeout(timer);
        // The SDK calls back on its own timeout without closing the request: close it here.
        req?.destroy();
        sent.catch(() => undefined);
        throw err;
      },
    );
  }

  private async call<T>(
    what: keyof RequestCounts,
    key: string,
    fn: (hooks: SdkHooks) => Promise<SdkResult<T>>,
    okStatus: (s: number) => boolean = (s) => s < 300,
  ): Promise<T | null> {
    await this.ready;
    return withRetry(
      this.retry,
      async () => {
        this.requests[what]++;
        let result: SdkResult<T>;
        try {
          result = await this.withDeadline(fn);
        } catch (err) {
          const about =
            err instanceof ObsError && err.code === "TIMEOUT"
              ? describeError(err)
              : `${describeError(err)} (OBS endpoint ${this.endpoint})`;
          throw new ObsError(0, "NETWORK", `${what} ${safeLine(key)} failed: ${about}`, { cause: err });
        }
        const { Status, Code, Message } = result.CommonMsg;
        if (!okStatus(Status)) {
          const hint =
            Status === 403
              ? " (check HUAWEICLOUD_SDK_AK/SK and the OBS permissions of the user or agency)"
              : Status === 404 && Code === "NoSuchBucket"
                ? " (check the bucket name)"
                : "";
          throw new ObsError(
            Status,
            Code || `HTTP_${Status}`,
            safeLine(
              `${what} ${key} failed: ${Status} ${Code} ${Message}${hint}`.replace(/\s+/g, " ").trim(),
            ),
          );
        }
        return Status === 404 ? null : result.InterfaceResult;
      },
      isTransientObsError,
    );
  }

  /** One page of a listing. */
  async listPage(
    prefix: string,
    marker?: string,
    delimiter?: string,
  ): Promise<{ objects: ListedObject[]; prefixes: string[]; next?: string }> {
    const page = await this.call("list", prefix || "/", (hooks) =>
      this.client.listObjects({
        ...hooks,
        Bucket: this.name,
        Prefix: prefix,
        MaxKeys: this.pageSize,
        Marker: marker,
        Delimiter: delimiter,
      }),
    );
    const objects = (page?.Contents ?? []).map((o) => ({
      key: o.Key,
      size: Number(o.Size),
      etag: o.ETag.replace(/"/g, "").toLowerCase(),
      lastModified: new Date(o.LastModified),
    }));
    const truncated = page?.IsTruncated === "true" && objects.length + (page?.CommonPrefixes.length ?? 0) > 0;
    // Without a delimiter S3 and OBS may leave NextMarker empty: the last key is the marker then.
    const next = truncated ? page?.NextMarker || objects[objects.length - 1]?.key : undefined;
    return { objects, prefixes: (page?.CommonPrefixes ?? []).map((p) => p.Prefix), next };
  }

  /** Every object under a prefix, page by page. */
  async listAll(prefix: string): Promise<ListedObject[]> {
    const all: ListedObject[] = [];
    let marker: string | undefined;
    do {
      const page = await this.listPage(prefix, marker);
      all.push(...page.objects);
      marker = page.next;
    } while (marker);
    return all;
  }

  /** The object's bytes as a stream (back-pressure is the caller's iteration). */
  async open(key: string): Promise<Readable> {
    return (await this.get(key)).content;
  }

  /**
   * The object's bytes as a stream, with its user metadata (lower-case keys) from the same response: a digest
   * needs both, and one request instead of a GET and a HEAD saves a round trip a digest.
   */
  async get(key: string): Promise<{ content: Readable; metadata: Record<string, string> }> {
    const r = await this.call("get", key, (hooks) =>
      this.client.getObject({ ...hooks, Bucket: this.name, Key: key, SaveAsStream: true }),
    );
    return { content: r!.Content, metadata: lowerKeys(r!.Metadata) };
  }

  /** A small object as text, or undefined when it does not exist. */
  async getText(key: string): Promise<string | undefined> {
    const r = await this.call(
      "get",
      key,
      (hooks) => this.client.getObject({ ...hooks, Bucket: this.name, Key: key, SaveAsStream: true }),
      (s) => s < 300 || s === 404,
    );
    if (!r) return undefined;
    const chunks: Buffer[] = [];
    for await (const c of r.Content) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  /** User metadata (lower-case keys). */
  async metadata(key: string): Promise<Record<string, string>> {
    const r = await this.call("head", key, (hooks) =>
      this.client.getObjectMetadata({ ...hooks, Bucket: this.name, Key: key }),
    );
    return lowerKeys(r?.Metadata);
  }

  async putText(key: string, text: string): Promise<void> {
    // The SDK sends a Buffer body as text; a string is what it expects.
    await this.call("put", key, (hooks) =>
      this.client.putObject({ ...hooks, Bucket: this.name, Key: key, Body: text }),
    );
  }

  async delete(key: string): Promise<void> {
    await this.call(
      "delete",
      key,
      (hooks) => this.client.deleteObject({ ...hooks, Bucket: this.name, Key: key }),
      (s) => s < 300 || s === 404,
    );
  }
}
