/**
 * Misbehaving OBS-like endpoints for tests, on 127.0.0.1 with a random port (plain node:http and node:net):
 * one that answers every request with an S3-style XML error body echoing the whole request (as some gateways and
 * debugging proxies do), one that accepts connections and never answers, and one that answers a listing and then
 * stalls the body of every GET.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

/** A request as the server received it. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const xml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The request as one text: request line, header lines, blank line, body. */
export function echoOf(r: SeenRequest): string {
  const lines = Object.entries(r.headers).map(
    ([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : (v ?? "")}`,
  );
  return [`${r.method} ${r.url}`, ...lines, "", r.body].join("\n");
}

/** A running test server. */
export interface TestServer {
  endpoint: string;
  seen: SeenRequest[];
  /** Connections still open on the server's side: a client that closed its sockets leaves none. */
  openConnections(): number;
  stop(): Promise<void>;
}

/** Counts a server's open connections. */
export function trackConnections(server: net.Server): () => number {
  const open = new Set<net.Socket>();
  server.on("connection", (socket: net.Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  return () => open.size;
}

async function listen(server: net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * Answers every request with `status` and an S3-style XML error whose fields echo the request: the message holds
 * every header and the body, `StringToSign`, `AWSAccessKeyId` and `SignatureProvided` what S3 puts there on a
 * signature mismatch, and the `x-obs-error-message`/`x-amz-error-message` headers the request on one line (a HEAD
 * error has no body).
 */
export async function startEchoObsServer(status = 403): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const r: SeenRequest = {
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(r);
      const echo = echoOf(r);
      const auth = String(req.headers.authorization ?? "");
      const [ak = "", sig = ""] = auth.replace(/^\S+\s+/, "").split(":");
      const oneLine = echo.replace(/[\r\n]+/g, " | ").replace(/[^\x20-\x7e]/g, "?");
      const body =
        `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${status === 403 ? "AccessDenied" : "InternalError"}</Code>` +
        `<Message>request was:\n${xml(echo)}</Message><AWSAccessKeyId>${xml(ak)}</AWSAccessKeyId>` +
        `<SignatureProvided>${xml(sig)}</SignatureProvided><StringToSign>${xml(auth)}</StringToSign>` +
        `<RequestId>0000000000000000</RequestId><HostId>${xml(oneLine)}</HostId></Error>`;
      res.writeHead(status, {
        "Content-Type": "application/xml",
        "x-obs-error-code": status === 403 ? "AccessDenied" : "InternalError",
        "x-obs-error-message": oneLine,
        "x-amz-error-message": oneLine,
      });
      res.end(req.method === "HEAD" ? undefined : body);
    });
  });
  const openConnections = trackConnections(server);
  const endpoint = await listen(server);
  return {
    endpoint,
    seen,
    openConnections,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Accepts connections, reads what is sent, never answers. */
export async function startSilentServer(): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
  });
  const endpoint = await listen(server);
  return {
    endpoint,
    seen: [],
    openConnections: () => sockets.size,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Answers a listing (GET of the bucket) with one trace object, and every other GET with its headers and the first
 * bytes of a body that then never comes; HEAD with 404.
 */
export async function startStallingServer(
  key = "CloudTraces/ap-southeast-1/2024/07/19/CloudTrace_x_trace_2024-07-19T00-00-00Z_aaaaaaaaaaaaaaaa.json.gz",
): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: "" });
    const url = new URL(req.url ?? "/", "http://x");
    const isList = url.pathname.split("/").filter(Boolean).length <= 1 && req.method === "GET";
    if (req.method === "HEAD") {
      res.writeHead(404).end();
      return;
    }
    if (isList) {
      const listing =
        `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bucket</Name><Prefix></Prefix>` +
        `<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>${key}</Key>` +
        `<LastModified>2024-07-19T00:05:00.000Z</LastModified><ETag>"0123456789abcdef0123456789abcdef"</ETag>` +
        `<Size>100000</Size></Contents></ListBucketResult>`;
      res.writeHead(200, { "Content-Type": "application/xml" }).end(listing);
      return;
    }
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": "100000" });
    res.write(Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03]));
  });
  const openConnections = trackConnections(server);
  const endpoint = await listen(server);
  return {
    endpoint,
    seen,
    openConnections,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
