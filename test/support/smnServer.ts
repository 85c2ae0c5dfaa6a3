/**
 * A local SMN-compatible endpoint for tests: publish and list topics, SDK-HMAC-SHA256 signatures verified the
 * way Huawei's API gateway does (reference §6.4), SMN's size limits and error bodies, and injected faults.
 * Written by hand: there is no SMN server to install.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import type { AddressInfo } from "node:net";

/** A request as the gateway sees it. */
export interface SignedRequest {
  method: string;
  /** Raw path, as sent (may hold `:` or `%3A`). */
  path: string;
  /** Raw query string without `?`. */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

// RFC 3986 unreserved characters stay; everything else is %XX (upper-case), as the SDK's signer encodes.
function encode(text: string): string {
  return Array.from(Buffer.from(text, "utf8"))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

function header(req: SignedRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(",") : v;
}

/** The canonical request of SDK-HMAC-SHA256 for a request, with the given signed headers. */
export function canonicalRequest(req: SignedRequest, signedHeaders: string[]): string {
  const segments = req.path.split("/").map((s) => encode(decodeURIComponent(s)));
  let uri = segments.join("/");
  if (!uri.endsWith("/")) uri += "/";
  const params = req.query
    ? req.query
        .split("&")
        .filter(Boolean)
        .map((p) => {
          const [k, v = ""] = p.split("=");
          return [
            encode(decodeURIComponent(k!.replace(/\+/g, " "))),
            encode(decodeURIComponent(v.replace(/\+/g, " "))),
          ] as const;
        })
    : [];
  params.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
  const query = params.map(([k, v]) => `${k}=${v}`).join("&");
  const headers = signedHeaders.map((h) => `${h}:${(header(req, h) ?? "").trim()}\n`).join("");
  const payload = header(req, "x-sdk-content-sha256") ?? createHash("sha256").update(req.body).digest("hex");
  return [req.method.toUpperCase(), uri, query, headers, signedHeaders.join(";"), payload].join("\n");
}

/** Verifies the Authorization header; returns the access key, or why it failed. */
export function verifySdkSignature(
  req: SignedRequest,
  secretFor: (ak: string) => string | undefined,
  now: Date = new Date(),
): { ok: true; ak: string } | { ok: false; reason: string } {
  const auth = header(req, "authorization");
  const m =
    auth &&
    /^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, reason: "missing or malformed Authorization header" };
  const [, ak, signedList, signature] = m as unknown as [string, string, string, string];
  const sk = secretFor(ak);
  if (!sk) return { ok: false, reason: `unknown access key ${ak}` };
  const signed = signedList.split(";");
  if (!signed.includes("x-sdk-date")) return { ok: false, reason: "x-sdk-date is not signed" };
  const date = header(req, "x-sdk-date") ?? "";
  const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!d) return { ok: false, reason: "malformed X-Sdk-Date" };
  const at = Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!);
  if (Math.abs(now.getTime() - at) > 15 * 60 * 1000)
    return { ok: false, reason: "X-Sdk-Date is more than 15 minutes off" };
  const hashed = createHash("sha256").update(canonicalRequest(req, signed)).digest("hex");
  const expected = createHmac("sha256", sk).update(`SDK-HMAC-SHA256\n${date}\n${hashed}`).digest("hex");
  if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature)))
    return { ok: false, reason: "signature does not match" };
  return { ok: true, ak };
}

export interface Published {
  topicUrn: string;
  body: { subject?: string; message?: string; message_structure?: string };
  headers: Record<string, string | string[] | undefined>;
  messageId: string;
  /** `performance.now()` when the publish was accepted (this process's clock): a cold start's end. */
  receivedAt: number;
}

type SmnFault =
  | { kind: "status"; status: number; code: string; times: number }
  | { kind: "hang"; times: number }
  /** Answers `status` with an error body that echoes the whole request: method, URL, headers, body. */
  | { kind: "echo"; status: number; times: number }
  /** Sends the headers and part of the body, then nothing: the client's deadline must fire. */
  | { kind: "stall-body"; times: number };

const MAX_MESSAGE_BYTES = 256 * 1024;

export class SmnTestServer {
  readonly published: Published[] = [];
  readonly rejected: Array<{ status: number; code: string; reason: string }> = [];
  /** Every request's headers, to check what was signed and sent. */
  readonly seen: Array<Record<string, string | string[] | undefined>> = [];
  private readonly faults: SmnFault[] = [];
  private readonly credentials = new Map<string, { sk: string; token?: string }>();
  private readonly topics: Array<{ name: string; topic_urn: string }> = [];

  private readonly connections = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    readonly projectId: string,
    readonly region: string,
  ) {
    server.on("connection", (socket: net.Socket) => {
      this.connections.add(socket);
      socket.on("close", () => this.connections.delete(socket));
    });
  }

  /** Connections still open on the server's side: a client that closed its sockets leaves none. */
  openConnections(): number {
    return this.connections.size;
  }

  static async start(options: { projectId?: string; region?: string } = {}): Promise<SmnTestServer> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const self = new SmnTestServer(
      server,
      options.projectId ?? "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
      options.region ?? "ap-southeast-1",
    );
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => void self.handle(req, res));
    return self;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Accepts this access key (and, for temporary credentials, only with this security token). */
  allow(ak: string, sk: string, token?: string): void {
    this.credentials.set(ak, { sk, token });
  }

  /** Creates a topic; returns its URN. */
  addTopic(name: string): string {
    const topic_urn = `urn:smn:${this.region}:${this.projectId}:${name}`;
    this.topics.push({ name, topic_urn });
    return topic_urn;
  }

  inject(fault: SmnFault): void {
    this.faults.push(fault);
  }

  /** Drops every fault not yet used up. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  private reply(res: http.ServerResponse, status: number, body: object): void {
    res.writeHead(status, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private error(res: http.ServerResponse, status: number, code: string, message: string): void {
    this.rejected.push({ status, code, reason: message });
    this.reply(res, status, { request_id: randomUUID().replace(/-/g, ""), code, message });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    this.seen.push(req.headers);
    const fault = this.faults.find((f) => f.times > 0);
    if (fault) {
      fault.times--;
      if (fault.kind === "hang") return; // never answers: the client's timeout must fire
      if (fault.kind === "stall-body") {
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": "1000" });
        res.write('{"message_id": "');
        return;
      }
      if (fault.kind === "echo") {
        const echo = [
          `${req.method} ${req.url}`,
          ...Object.entries(req.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`),
          "",
          body.toString("utf8"),
        ].join("\n");
        this.rejected.push({ status: fault.status, code: "SMN.ECHO", reason: "echo" });
        this.reply(res, fault.status, { error_code: "APIGW.0301", error_msg: `request was:\n${echo}` });
        return;
      }
      this.error(res, fault.status, fault.code, "injected fault");
      return;
    }
    const [rawPath = "", query = ""] = (req.url ?? "").split("?");
    const signed: SignedRequest = {
      method: req.method ?? "GET",
      path: rawPath,
      query,
      headers: req.headers,
      body,
    };
    const verdict = verifySdkSignature(signed, (ak) => this.credentials.get(ak)?.sk);
    if (!verdict.ok)
      return this.error(
        res,
        401,
        "APIGW.0301",
        `Incorrect IAM authentication information: ${verdict.reason}`,
      );
    const expectedToken = this.credentials.get(verdict.ak)?.token;
    if (expectedToken !== undefined && req.headers["x-security-token"] !== expectedToken) {
      return this.error(res, 401, "APIGW.0301", "Incorrect IAM authentication information: security token");
    }
    const path = decodeURIComponent(rawPath);
    const publish = /^\/v2\/([^/]+)\/notifications\/topics\/([^/]+)\/publish$/.exec(path);
    const list = /^\/v2\/([^/]+)\/notifications\/topics$/.exec(path);
    if ((publish ?? list)?.[1] !== this.projectId) return this.error(res, 403, "SMN.0001", "No permission.");
    if (publish && req.method === "POST") return this.publish(publish[2]!, body, req, res);
    if (list && req.method === "GET") return this.list(new URLSearchParams(query), res);
    return this.error(res, 404, "SMN.0002", "Resource not found.");
  }

  private publish(urn: string, raw: Buffer, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!this.topics.some((t) => t.topic_urn === urn))
      return this.error(res, 404, "SMN.0006", "Topic not found.");
    let body: Published["body"];
    try {
      body = JSON.parse(raw.toString("utf8")) as Published["body"];
    } catch {
      return this.error(res, 400, "SMN.0009", "Message invalid.");
    }
    if (body.subject !== undefined && Buffer.byteLength(body.subject) > 512)
      return this.error(res, 403, "SMN.0008", "Subject invalid.");
    const messages: string[] = [];
    if (body.message_structure !== undefined) {
      let structure: Record<string, unknown>;
      try {
        structure = JSON.parse(body.message_structure) as Record<string, unknown>;
      } catch {
        return this.error(res, 400, "SMN.0021", "MessageStructure invalid.");
      }
      if (typeof structure.default !== "string")
        return this.error(res, 400, "SMN.0021", "MessageStructure invalid: no default.");
      for (const v of Object.values(structure)) if (typeof v === "string") messages.push(v);
    } else if (typeof body.message === "string") messages.push(body.message);
    else return this.error(res, 403, "SMN.0009", "Message invalid.");
    if (messages.some((m) => Buffer.byteLength(m) > MAX_MESSAGE_BYTES))
      return this.error(res, 403, "SMN.0047", "Value exceeds maximum length.");
    const messageId = randomUUID().replace(/-/g, "");
    this.published.push({
      topicUrn: urn,
      body,
      headers: req.headers,
      messageId,
      receivedAt: performance.now(),
    });
    this.reply(res, 200, { message_id: messageId, request_id: randomUUID().replace(/-/g, "") });
  }

  private list(query: URLSearchParams, res: http.ServerResponse): void {
    const offset = Number(query.get("offset") ?? 0);
    const limit = Math.min(100, Number(query.get("limit") ?? 100));
    const name = query.get("name");
    const matching = name ? this.topics.filter((t) => t.name === name) : this.topics;
    this.reply(res, 200, {
      request_id: randomUUID().replace(/-/g, ""),
      topic_count: matching.length,
      topics: matching
        .slice(offset, offset + limit)
        .map((t) => ({ ...t, display_name: t.name, push_policy: 0 })),
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
