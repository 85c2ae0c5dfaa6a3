/**
 * The FunctionGraph zip as the runtime uses it: unpacked into a folder, its `index.js` required by a fresh Node
 * process with a clean environment, `handler(event, context)` called once. The package test and the cold-start
 * bench both run it against s3rver and the local SMN endpoint.
 */
import { execFile } from "node:child_process";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import yauzl from "yauzl";
import { CtsBucket, makeTrace } from "./ctsBucket.js";
import { S3TestServer } from "./s3Server.js";
import { SmnTestServer } from "./smnServer.js";

/** Unpacks `zipFile` into `into`; returns the entry names in zip order. */
export async function unzip(zipFile: string, into: string): Promise<string[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zipFile, { lazyEntries: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  const names: string[] = [];
  await new Promise<void>((resolve, reject) => {
    zip.on("entry", (entry: yauzl.Entry) => {
      names.push(entry.fileName);
      const out = path.join(into, entry.fileName);
      mkdirSync(path.dirname(out), { recursive: true });
      zip.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        pipeline(stream, createWriteStream(out)).then(() => zip.readEntry(), reject);
      });
    });
    zip.on("end", resolve);
    zip.on("error", reject);
    zip.readEntry();
  });
  return names;
}

const BUCKET = "cts-fn";
const AK = "S3RVER";
const SK = "temporarySecretKeyOfTheAgency0000000000";
const TOKEN = "temporary-security-token-of-the-agency";

/** s3rver with one new trace file (one login from outside the allowlist) and the SMN endpoint with its topic. */
export class FunctionScenario {
  private constructor(
    readonly s3: S3TestServer,
    readonly smn: SmnTestServer,
    /** The OBS trigger event for the new file. */
    readonly event: object,
    // Its own key pair, not the harness's: the bench runs this outside vitest.
    private readonly publicKey: KeyObject,
  ) {}

  static async start(): Promise<FunctionScenario> {
    const s3 = await S3TestServer.start([BUCKET]);
    const smn = await SmnTestServer.start();
    // FunctionGraph hands the function temporary credentials: the AK works only with its security token.
    smn.allow(AK, SK, TOKEN);
    smn.addTopic("cts-login-alerts");
    const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const bucket = new CtsBucket(keys.privateKey, BUCKET);
    const key = bucket.addTraceFile({
      uploadTime: new Date("2024-07-19T05:20:00Z"),
      traces: [
        makeTrace({
          traceName: "login",
          sourceIp: "203.0.113.77",
          time: new Date("2024-07-19T05:15:00Z"),
          user: "alice",
        }),
      ],
    });
    await s3.seed(BUCKET, bucket);
    const event = {
      Records: [
        {
          eventVersion: "2.0",
          eventSource: "aws:s3",
          eventName: "ObjectCreated:Put",
          s3: { bucket: { name: BUCKET }, object: { key, size: bucket.objects.get(key)!.length } },
        },
      ],
    };
    return new FunctionScenario(s3, smn, event, keys.publicKey);
  }

  /** The function's variables (`context.getUserData`). */
  userData(): Record<string, string> {
    return {
      SMN_Topic: "cts-login-alerts",
      IP: "192.0.2.0/24",
      OBS_ENDPOINT: this.s3.endpoint,
      SMN_ENDPOINT: this.smn.endpoint,
      CTS_AUDIT_PUBLIC_KEY: this.publicKey.export({ type: "spki", format: "der" }).toString("base64"),
    };
  }

  async stop(): Promise<void> {
    await this.s3.stop();
    await this.smn.stop();
  }

  /**
   * Runs the unpacked function in `appDir` once on `event` in a new Node process (`node` is the executable:
   * another runtime's binary may be given). `startedAt` is `performance.now()` just before the process was
   * spawned, on the clock of the SMN endpoint's `receivedAt`. `variables` are added to the function's variables.
   */
  async runUnpacked(
    appDir: string,
    event: object = this.event,
    node = process.execPath,
    variables: Record<string, string> = {},
  ): Promise<{ result: HandlerOutcome; startedAt: number }> {
    const script = `
      const data = ${JSON.stringify({ ...this.userData(), ...variables })};
      const ctx = {
        getUserData: (k) => data[k],
        getSecurityAccessKey: () => ${JSON.stringify(AK)},
        getSecuritySecretKey: () => ${JSON.stringify(SK)},
        getSecurityToken: () => ${JSON.stringify(TOKEN)},
        getProjectID: () => ${JSON.stringify(this.smn.projectId)},
        getRemainingTimeInMilliSeconds: () => 60000,
      };
      const { handler } = require(${JSON.stringify(path.join(appDir, "index.js"))});
      handler(${JSON.stringify(event)}, ctx).then((r) => process.stderr.write("RESULT " + JSON.stringify(r) + "\\n"));
    `;
    const startedAt = performance.now();
    // A clean environment and the unpacked folder as the working directory: nothing of this project can leak in.
    const stderr = await new Promise<string>((resolve, reject) =>
      execFile(
        node,
        ["-e", script],
        { cwd: appDir, env: { PATH: process.env.PATH ?? "" } },
        (err, _out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stderr)),
      ),
    );
    const line = /RESULT (.*)/.exec(stderr);
    if (!line) throw new Error(`the function returned nothing:\n${stderr}`);
    return { result: JSON.parse(line[1]!) as HandlerOutcome, startedAt };
  }
}

/** The parts of the handler's result the package test and the bench read. */
export interface HandlerOutcome {
  ok: boolean;
  runs: Array<{ kind: string; summary: { alerts: number; failed: number } }>;
}
