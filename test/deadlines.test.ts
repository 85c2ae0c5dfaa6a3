/**
 * No request hangs and nothing keeps the process alive: every OBS and SMN request has a deadline, including the
 * body of a GET that stalls mid-way, and every socket is closed when it passes. Against a TCP server that accepts
 * and never answers, and an HTTP server that answers headers and then stalls the body; through the clients, the
 * command line and the function handler, each in a child process that must exit by itself.
 */
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeError } from "../src/errors.js";
import { SmnClient } from "../src/notify/SmnClient.js";
import { ObsBucket } from "../src/sources/ObsBucket.js";
import { ObsSource } from "../src/sources/ObsSource.js";
import { root, runCli, sampleScanToSmn } from "./support/cli.js";
import { startSilentServer, startStallingServer, type TestServer } from "./support/echoObsServer.js";
import { tempDir } from "./support/harness.js";
import { SmnTestServer } from "./support/smnServer.js";

const AK = "DEADLINEAK0000000001";
const SK = "deadlineSecretKey000000000000000000000000";
const once = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 };
const twice = { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 };

let silent: TestServer;
let stalling: TestServer;
beforeAll(async () => {
  silent = await startSilentServer();
  stalling = await startStallingServer();
});
afterAll(async () => {
  await silent.stop();
  await stalling.stop();
});

/** Waits (a bounded number of turns) until the server sees every connection closed; returns how many remain. */
async function connectionsLeft(server: { openConnections(): number }): Promise<number> {
  for (let i = 0; i < 100 && server.openConnections() > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return server.openConnections();
}

const bucket = (endpoint: string, retry = once) =>
  new ObsBucket("bucket", { endpoint, accessKeyId: AK, secretAccessKey: SK, timeoutSeconds: 1, retry });

async function failure(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "no error",
    (e: unknown) => describeError(e),
  );
}

describe("OBS requests against a server that accepts and never answers", () => {
  it.each([
    ["list", (b: ObsBucket) => b.listAll("CloudTraces/")],
    ["get", (b: ObsBucket) => b.open("CloudTraces/a.json.gz")],
    ["get text", (b: ObsBucket) => b.getText("state/ledger.json")],
    ["head", (b: ObsBucket) => b.metadata("CloudTraces/a.json.gz")],
    ["put", (b: ObsBucket) => b.putText("state/ledger.json", "{}")],
    ["delete", (b: ObsBucket) => b.delete("state/lock")],
  ])("%s fails with an error naming the endpoint, and closes its sockets", async (_op, call) => {
    const message = await failure(call(bucket(silent.endpoint, twice)));
    expect(message).toContain(`no answer from OBS endpoint ${silent.endpoint}`);
    expect(await connectionsLeft(silent)).toBe(0);
  });
});

describe("OBS GET whose body stalls after the headers", () => {
  it("a stream read fails with an error naming the endpoint, and its socket is closed", async () => {
    const stream = await bucket(stalling.endpoint).open("CloudTraces/a.json.gz");
    const read = (async () => {
      for await (const chunk of stream) void chunk;
    })();
    expect(await failure(read)).toContain(`no answer from OBS endpoint ${stalling.endpoint}`);
    expect(await connectionsLeft(stalling)).toBe(0);
  });

  it("getText and ObsSource.read fail the same way", async () => {
    expect(await failure(bucket(stalling.endpoint).getText("state/ledger.json"))).toContain(
      `no answer from OBS endpoint ${stalling.endpoint}`,
    );
    const source = new ObsSource("obs://bucket/", {
      endpoint: stalling.endpoint,
      accessKeyId: AK,
      secretAccessKey: SK,
      timeoutSeconds: 1,
      retry: once,
    });
    expect(await failure(source.read("CloudTraces/a.json.gz", 1 << 20))).toContain(
      `no answer from OBS endpoint ${stalling.endpoint}`,
    );
    expect(await connectionsLeft(stalling)).toBe(0);
  });
});

describe("a reader that falls behind is not a stalled server", () => {
  it("a stream left unread for longer than the timeout still reads whole", async () => {
    const size = 8 << 20;
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "Content-Length": String(size) });
      res.end(Buffer.alloc(size, 7));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const stream = await bucket(endpoint).open("CloudTraces/big.json.gz");
      // The server has sent what the buffers hold and waits on the reader: no byte moves for over a timeout.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      let read = 0;
      for await (const chunk of stream) read += (chunk as Buffer).length;
      expect(read).toBe(size);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("SMN requests that get no answer", () => {
  let smn: SmnTestServer;
  beforeAll(async () => {
    smn = await SmnTestServer.start();
    smn.allow(AK, SK);
  });
  afterAll(() => smn.stop());

  const client = (endpoint: string) =>
    new SmnClient(
      endpoint,
      { accessKeyId: AK, secretAccessKey: SK, projectId: "0a1b2c3d4e5f60718293a4b5c6d7e8f9" },
      { retry: once, timeoutMs: 1000 },
    );

  it.each([
    [
      "publish to a silent server",
      () => client(silent.endpoint).publish("urn:smn:x:y:z", { message: "m" }),
      () => silent,
    ],
    [
      "list topics on a silent server",
      () => client(silent.endpoint).listTopics({ offset: 0, limit: 1 }),
      () => silent,
    ],
    [
      "publish whose answer stalls mid-body",
      () => {
        smn.inject({ kind: "stall-body", times: 1 });
        return client(smn.endpoint).publish("urn:smn:x:y:z", { message: "m" });
      },
      () => smn,
    ],
  ])("%s fails with an error naming the endpoint, and closes its socket", async (_what, call, server) => {
    const message = await failure(call());
    expect(message).toMatch(/no answer from SMN endpoint http:\/\/127\.0\.0\.1:\d+ within 1 s/);
    expect(await connectionsLeft(server())).toBe(0);
  });
});

const env = { HUAWEICLOUD_SDK_AK: AK, HUAWEICLOUD_SDK_SK: SK, HUAWEICLOUD_SDK_PROJECT_ID: "p" };

describe("the command line exits by itself", () => {
  it.each([
    ["accepts and never answers", () => silent.endpoint],
    ["stalls the body of every GET", () => stalling.endpoint],
  ])(
    "against an OBS endpoint that %s: exit code 1, an error naming the endpoint",
    async (_what, endpoint) => {
      const r = await runCli(
        ["scan", "obs://bucket/", "--obs-endpoint", endpoint(), "--timeout", "1", "--format", "json"],
        env,
      );
      expect(r.code).toBe(1);
      expect(`${r.stdout}${r.stderr}`).toContain(`no answer from OBS endpoint ${endpoint()}`);
    },
    60_000,
  );

  it("against an SMN endpoint that never answers: the digest is saved, exit code 1", async () => {
    const r = await runCli(
      sampleScanToSmn(
        "--smn-endpoint",
        silent.endpoint,
        "--smn-topic",
        "urn:smn:ap-southeast-1:p:t",
        "--timeout",
        "1",
        "--unsent-dir",
        tempDir(),
      ),
      env,
    );
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).toContain(`no answer from SMN endpoint ${silent.endpoint}`);
  }, 60_000);
});

/** Runs the built handler on an event in a child process; resolves when the process exits, however it does. */
function runHandler(
  event: unknown,
  vars: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `
    import { handler } from ${JSON.stringify(path.join(root, "dist", "handler.js"))};
    const result = await handler(${JSON.stringify(event)}, {});
    process.stdout.write("RESULT " + JSON.stringify(result) + "\\n");
  `;
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      ["--input-type=module", "-e", script],
      { env: { PATH: process.env.PATH ?? "", ...env, ...vars }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

describe("the function handler returns and its process exits by itself", () => {
  const traceKey =
    "CloudTraces/ap-southeast-1/2024/07/19/CloudTrace_ap-southeast-1_2024-07-19T00-05-00Z_aaaaaaaaaaaaaaaa.json.gz";
  it.each([
    ["accepts and never answers", () => silent.endpoint],
    ["stalls the body of every GET", () => stalling.endpoint],
  ])(
    "against an OBS endpoint that %s",
    async (_what, endpoint) => {
      const event = {
        Records: [{ s3: { bucket: { name: "bucket" }, object: { key: traceKey, size: 100000 } } }],
      };
      const r = await runHandler(event, { OBS_ENDPOINT: endpoint(), CTS_AUDIT_TIMEOUT: "1" });
      expect(r.code).toBe(0);
      const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
      expect(line).toBeDefined();
      const result = JSON.parse(line!.slice("RESULT ".length)) as { ok: boolean };
      expect(result.ok).toBe(false);
      expect(r.stdout).toContain(`no answer from OBS endpoint ${endpoint()}`);
    },
    60_000,
  );
});
