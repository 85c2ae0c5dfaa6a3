/**
 * A local FunctionGraph-compatible endpoint for tests: asynchronous invocation
 * (`POST /v2/{project_id}/fgs/functions/{function_urn}/invocations-async`) with SDK-HMAC-SHA256 signatures verified
 * as smnServer.ts does, the 256 KB payload limit, an account concurrency cap (429 beyond it), 202 with a
 * request_id; each accepted invocation runs the handler in a child process. Faults: lost invocations, duplicate
 * deliveries (at-least-once), workers killed part-way. Written by hand: there is no FunctionGraph to install.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { verifySdkSignature } from "./smnServer.js";

const WORKER = path.join(import.meta.dirname, "fgWorker.ts");
const MAX_PAYLOAD = 256 * 1024;

export interface Invocation {
  requestId: string;
  urn: string;
  bytes: number;
  event: unknown;
  /** Child runs of this invocation (a duplicate delivery runs twice), with their exit and time. */
  runs: Array<{ code: number | null; signal: string | null; ms: number }>;
  fault?: "lost" | "duplicate" | "killed";
}

export class FgTestServer {
  readonly invocations: Invocation[] = [];
  readonly rejected: Array<{ status: number; reason: string }> = [];
  maxRunning = 0;
  private running = 0;
  private readonly faults: Array<"lost" | "duplicate" | "killed"> = [];
  private readonly children = new Set<ChildProcess>();
  private readonly credentials = new Map<string, { sk: string; token?: string }>();
  private readonly idle: Array<() => void> = [];

  private constructor(
    private readonly server: http.Server,
    readonly projectId: string,
    /** Environment of every child: the function's variables and its context's credentials (FG_AK, ...). */
    private readonly childEnv: Record<string, string>,
    readonly cap: number,
    private readonly killAfterMs: number,
  ) {}

  static async start(options: {
    projectId: string;
    env: Record<string, string>;
    cap: number;
    killAfterMs?: number;
  }): Promise<FgTestServer> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const self = new FgTestServer(
      server,
      options.projectId,
      options.env,
      options.cap,
      options.killAfterMs ?? 300,
    );
    server.on("request", (req, res) => void self.handle(req, res));
    return self;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  allow(ak: string, sk: string, token?: string): void {
    this.credentials.set(ak, { sk, ...(token ? { token } : {}) });
  }

  /** The next accepted invocations meet these faults, in order. */
  inject(...faults: Array<"lost" | "duplicate" | "killed">): void {
    this.faults.push(...faults);
  }

  /** Resolves when no child runs. */
  async settled(): Promise<void> {
    if (this.children.size === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private answer(res: http.ServerResponse, status: number, body: object): void {
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://x");
    const m = /^\/v2\/([^/]+)\/fgs\/functions\/([^/]+)\/invocations-async$/.exec(url.pathname);
    const reject = (status: number, code: string, reason: string) => {
      this.rejected.push({ status, reason });
      this.answer(res, status, { error_code: code, error_msg: reason });
    };
    if (req.method !== "POST" || !m) return reject(404, "FSS.0404", "no such API");
    const verdict = verifySdkSignature(
      { method: req.method, path: url.pathname, query: url.search.slice(1), headers: req.headers, body },
      (ak) => this.credentials.get(ak)?.sk,
    );
    if (!verdict.ok) return reject(401, "APIGW.0301", verdict.reason);
    const token = this.credentials.get(verdict.ak)?.token;
    if (token !== undefined && req.headers["x-security-token"] !== token)
      return reject(401, "APIGW.0301", "security token missing or wrong");
    if (m[1] !== this.projectId) return reject(403, "FSS.0403", "project mismatch");
    if (body.length > MAX_PAYLOAD) return reject(413, "FSS.0413", "payload larger than 256 KB");
    if (this.running >= this.cap) return reject(429, "FSS.0429", "concurrency limit reached");
    const invocation: Invocation = {
      requestId: randomUUID(),
      urn: decodeURIComponent(m[2]!),
      bytes: body.length,
      event: JSON.parse(body.toString("utf8")) as unknown,
      runs: [],
    };
    const fault = this.faults.shift();
    if (fault) invocation.fault = fault;
    this.invocations.push(invocation);
    this.answer(res, 202, { request_id: invocation.requestId });
    if (fault === "lost") return;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await this.runChild(invocation, fault === "killed");
      // At least once: the platform delivers the same event again.
      if (fault === "duplicate") await this.runChild(invocation, false);
    } finally {
      this.running--;
    }
  }

  private runChild(invocation: Invocation, kill: boolean): Promise<void> {
    const started = Date.now();
    const child = spawn(process.execPath, ["--import", "tsx", WORKER], {
      env: { ...this.childEnv, FG_EVENT: JSON.stringify(invocation.event) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.children.add(child);
    let stderr = "";
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    child.stdout?.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = kill ? setTimeout(() => child.kill("SIGKILL"), this.killAfterMs) : undefined;
    return new Promise((resolve) => {
      child.on("exit", (code, signal) => {
        clearTimeout(timer);
        invocation.runs.push({ code, signal, ms: Date.now() - started });
        if (code !== 0 && !kill && stderr) process.stderr.write(`fg worker: ${stderr.slice(0, 2000)}\n`);
        this.children.delete(child);
        if (this.children.size === 0) for (const r of this.idle.splice(0)) r();
        resolve();
      });
    });
  }

  async stop(): Promise<void> {
    for (const c of this.children) c.kill("SIGKILL");
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
