/**
 * A real S3-compatible server (s3rver) on 127.0.0.1, reached through a small HTTP proxy that can inject faults:
 * 503 bursts, connection resets mid-body, and slow answers. OBS is then used through esdk-obs-nodejs exactly as
 * in production.
 */
import http from "node:http";
import { Readable, Transform } from "node:stream";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import ObsClient from "esdk-obs-nodejs";
import pLimit from "p-limit";
import S3rver from "s3rver";
import type { CtsBucket } from "./ctsBucket.js";

/** s3rver's fixed credentials. */
export const S3_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface Fault {
  /** Which requests: method and a key substring. */
  method?: string;
  match?: string;
  /** How many matching requests it hits. */
  times: number;
  kind: "status" | "reset" | "delay";
  /** For `status`. */
  status?: number;
  /** For `reset`: bytes of body passed on before the connection is cut. */
  afterBytes?: number;
  /** For `delay`. */
  delayMs?: number;
}

/** A network between the client and s3rver: what every request costs (the OBS latency bench). */
export interface LinkOptions {
  /**
   * Every request is answered no sooner than this after it arrived: a distant endpoint's time a request, the
   * server's own time included (s3rver's few milliseconds are part of it, not added to it).
   */
  latencyMs?: number;
  /** Response bytes per second, shared by every connection (one link). */
  bytesPerSecond?: number;
  /** s3rver's store: kept after stop() when given, so that a large corpus is uploaded once and reused. */
  directory?: string;
  /**
   * An s3rver already running elsewhere (its `directEndpoint`, e.g. in another process): only the proxy runs
   * here, so that s3rver's synchronous listing walks neither stall the proxy's timers nor its clock.
   */
  upstream?: string;
}

/**
 * One link's bandwidth, shared by every response: each chunk reserves its time on the link, and is held back
 * until then. Sub-millisecond waits pass at once (timers cannot wait that little); the reserved time adds up, so
 * the next chunk waits for both.
 */
class Link {
  private free = 0;
  constructor(private readonly bytesPerSecond: number) {}
  throttle(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        const now = performance.now();
        this.free = Math.max(this.free, now) + (chunk.length * 1000) / this.bytesPerSecond;
        const wait = this.free - now;
        if (wait < 1) callback(null, chunk);
        else setTimeout(() => callback(null, chunk), wait);
      },
    });
  }
}

export class S3TestServer {
  /** Every request seen, with when it arrived and closed (performance.now(); `closed` 0 while open). */
  readonly requests: Array<{
    method: string;
    url: string;
    status: number;
    bytes: number;
    arrived: number;
    closed: number;
  }> = [];
  private readonly faults: Fault[] = [];
  private readonly agent = new http.Agent({ keepAlive: true });
  private constructor(
    private readonly s3: S3rver | undefined,
    private readonly proxy: http.Server,
    private readonly dir: string,
    readonly endpoint: string,
    readonly directEndpoint: string,
    private readonly link: LinkOptions = {},
    private readonly bandwidth = link.bytesPerSecond ? new Link(link.bytesPerSecond) : undefined,
  ) {}

  /** Starts s3rver and the proxy, each on a random port of 127.0.0.1, with the given buckets. */
  static async start(buckets: string[], link: LinkOptions = {}): Promise<S3TestServer> {
    const dir = link.directory ?? mkdtempSync(path.join(tmpdir(), "cts-audit-s3rver-"));
    let s3: S3rver | undefined;
    let port: number;
    if (link.upstream) port = Number(new URL(link.upstream).port);
    else {
      // s3rver omits the Date header from its v2 string-to-sign, so it rejects every correctly signed v2 request
      // (the OBS SDK always signs v2 or OBS-style against an IP address): signatures are not checked.
      s3 = new S3rver({
        address: "127.0.0.1",
        port: 0,
        silent: true,
        directory: dir,
        allowMismatchedSignatures: true,
        configureBuckets: buckets.map((name) => ({ name, configs: [] })),
      });
      ({ port } = await s3.run());
    }
    const proxy = http.createServer();
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const proxyPort = (proxy.address() as AddressInfo).port;
    const server = new S3TestServer(
      s3,
      proxy,
      dir,
      `http://127.0.0.1:${proxyPort}`,
      `http://127.0.0.1:${port}`,
      link,
    );
    proxy.on("request", (req: http.IncomingMessage, res: http.ServerResponse) =>
      server.forward(port, req, res),
    );
    return server;
  }

  /** Adds a fault for the next matching requests. */
  inject(fault: Fault): void {
    this.faults.push({ ...fault });
  }

  /** Drops every fault not yet spent. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  private takeFault(req: http.IncomingMessage): Fault | undefined {
    const fault = this.faults.find(
      (f) =>
        f.times > 0 &&
        (!f.method || f.method === req.method) &&
        (!f.match || decodeURIComponent(req.url ?? "").includes(f.match)),
    );
    if (fault) fault.times--;
    return fault;
  }

  /** Requests open at once, at most, since the last `resetPeak()`: which requests a client sends side by side. */
  peakInFlight = 0;
  /**
   * Milliseconds requests were open, summed (arrival to the response's close): over a run's wall time and its
   * concurrency, how full a client kept its requests in flight.
   */
  busyMs = 0;
  private inFlight = 0;

  resetPeak(): void {
    this.peakInFlight = this.inFlight;
  }

  private forward(port: number, req: http.IncomingMessage, res: http.ServerResponse): void {
    const fault = this.takeFault(req);
    const arrived = performance.now();
    const record = { method: req.method ?? "", url: req.url ?? "", status: 0, bytes: 0, arrived, closed: 0 };
    this.requests.push(record);
    this.inFlight++;
    this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
    res.once("close", () => {
      this.inFlight--;
      record.closed = performance.now();
      this.busyMs += record.closed - arrived;
    });
    if (fault?.kind === "status") {
      record.status = fault.status ?? 503;
      req.resume();
      res.writeHead(record.status, { "Content-Type": "application/xml" });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>`,
      );
      return;
    }
    const go = () => {
      const upstream = http.request(
        // Keep-alive towards s3rver: a connection a request costs this process CPU that the OBS latency bench
        // would charge to the scan. stop() closes the pooled sockets.
        {
          host: "127.0.0.1",
          port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: this.agent,
        },
        (up) => {
          const early = arrived + (this.link.latencyMs ?? 0) - performance.now();
          if (early >= 1) {
            up.pause();
            setTimeout(() => answer(up), early);
          } else answer(up);
        },
      );
      const answer = (up: http.IncomingMessage) => {
        record.status = up.statusCode ?? 0;
        res.writeHead(up.statusCode ?? 502, up.headers);
        if (fault?.kind === "reset") {
          let sent = 0;
          up.on("data", (chunk: Buffer) => {
            if (sent >= (fault.afterBytes ?? 0)) return;
            const part = chunk.subarray(0, (fault.afterBytes ?? 0) - sent);
            sent += part.length;
            record.bytes += part.length;
            res.write(part);
            if (sent >= (fault.afterBytes ?? 0)) {
              up.destroy();
              res.socket?.destroy();
            }
          });
          // Held back for the latency, it was paused: a 'data' listener alone does not start it again.
          up.resume();
          return;
        }
        up.on("data", (chunk: Buffer) => (record.bytes += chunk.length));
        if (this.bandwidth) up.pipe(this.bandwidth.throttle()).pipe(res);
        else up.pipe(res);
      };
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    };
    if (fault?.kind === "delay") setTimeout(go, fault.delayMs ?? 1000);
    else go();
  }

  /** Uploads a CtsBucket's objects with esdk-obs-nodejs, metadata included, straight to s3rver (no faults). */
  async seed(bucketName: string, bucket: CtsBucket): Promise<void> {
    const client = new ObsClient({
      access_key_id: "S3RVER",
      secret_access_key: "S3RVER",
      server: this.directEndpoint,
      max_retry_count: 0,
    });
    // The SDK finishes initialising asynchronously (see ObsSource).
    while (!client.util?.server) await new Promise((resolve) => setTimeout(resolve, 5));
    const limit = pLimit(16);
    await Promise.all(
      [...bucket.objects].map(([key, bytes]) =>
        limit(async () => {
          // A Buffer body is sent as text by the SDK (binary bytes come out mangled): a stream goes as is.
          const r = await client.putObject({
            Bucket: bucketName,
            Key: key,
            Body: Readable.from([bytes]),
            Metadata: bucket.metadata.get(key),
          });
          if (r.CommonMsg.Status !== 200)
            throw new Error(`seed ${key}: ${r.CommonMsg.Status} ${r.CommonMsg.Code}`);
        }),
      ),
    );
    client.close();
  }

  /** Requests seen so far, by kind, and body bytes sent: `/bucket?...` lists, `/bucket/key` gets and heads, puts, deletes. */
  counts(): { list: number; get: number; head: number; put: number; delete: number; bytes: number } {
    const hasKey = (url: string) => /^\/[^/?]+\/[^?]+/.test(url);
    return {
      list: this.requests.filter((r) => r.method === "GET" && !hasKey(r.url)).length,
      get: this.requests.filter((r) => r.method === "GET" && hasKey(r.url)).length,
      head: this.requests.filter((r) => r.method === "HEAD").length,
      put: this.requests.filter((r) => r.method === "PUT" || r.method === "POST").length,
      delete: this.requests.filter((r) => r.method === "DELETE").length,
      bytes: this.requests.reduce((n, r) => n + r.bytes, 0),
    };
  }

  async stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.proxy.close(() => resolve()));
    this.proxy.closeAllConnections();
    await closed;
    this.agent.destroy();
    // Idle keep-alive sockets (the SDK's, from seeding) would hold s3rver's close() open.
    if (this.s3) {
      const s3closed = this.s3.close();
      this.s3.httpServer?.closeAllConnections();
      await s3closed;
    }
    if (!this.link.directory) rmSync(this.dir, { recursive: true, force: true });
  }
}
