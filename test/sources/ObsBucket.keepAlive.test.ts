/**
 * ObsBucket keeps its connections alive (a backfill's thousands of requests each paid a handshake before), and a
 * reused connection keeps the idle deadline: a body that stalls on the second request of a connection fails
 * with an error naming the endpoint, as on a new one.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeError } from "../../src/errors.js";
import { ObsBucket } from "../../src/sources/ObsBucket.js";

let server: http.Server;
let endpoint: string;
const sockets = new Set<Socket>();
/** Requests seen, with the connection each came on (by its order of arrival). */
const seen: Array<{ url: string; connection: number }> = [];

beforeAll(async () => {
  const ids = new Map<Socket, number>();
  server = http.createServer((req, res) => {
    const socket = req.socket;
    if (!ids.has(socket)) ids.set(socket, ids.size);
    const connection = ids.get(socket)!;
    const onThis = seen.filter((s) => s.connection === connection).length;
    seen.push({ url: req.url ?? "", connection });
    if (req.url?.includes("stall") && onThis > 0) {
      // The second request of a connection: headers and a few bytes, then nothing.
      res.writeHead(200, { "Content-Length": "100", "Content-Type": "application/octet-stream" });
      res.write(Buffer.alloc(10, 1));
      return;
    }
    res.writeHead(200, { "Content-Length": "2", "Content-Type": "application/octet-stream" });
    res.end("ok");
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("ObsBucket connections", () => {
  it("sends requests one after another on one connection, and a reused one still has its deadline", async () => {
    const obs = new ObsBucket("bucket", {
      endpoint,
      accessKeyId: "KEEPALIVEAK000000001",
      secretAccessKey: "keepAliveSecret0000000000000000000000000",
      timeoutSeconds: 1,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    try {
      expect(await obs.getText("CloudTraces/a.json.gz")).toBe("ok");
      expect(await obs.getText("CloudTraces/b.json.gz")).toBe("ok");
      const stream = await obs.open("CloudTraces/stall.json.gz");
      const error = await (async () => {
        for await (const chunk of stream) void chunk;
      })().then(
        () => "read whole",
        (err: unknown) => describeError(err),
      );
      expect(error).toContain(`no answer from OBS endpoint ${endpoint}`);
      expect(seen.map((s) => s.connection)).toEqual([0, 0, 0]);
      // The stalled connection is closed, not left open.
      for (let i = 0; i < 50 && sockets.size > 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sockets.size).toBe(0);
    } finally {
      obs.close();
    }
  });
});
