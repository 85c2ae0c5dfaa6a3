import { execFile } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yauzl from "yauzl";
import { packageFunction } from "../../scripts/package-function.js";
import { tempDir } from "../support/harness.js";
import { SmnTestServer } from "../support/smnServer.js";
import { makeTrace } from "../support/ctsBucket.js";

async function unzip(zipFile: string, into: string): Promise<string[]> {
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

let smn: SmnTestServer;
beforeAll(async () => {
  smn = await SmnTestServer.start();
  smn.allow("HSTAFUNCTIONAK", "functionSecret", "functionToken");
  smn.addTopic("cts-login-alerts");
});
afterAll(() => smn.stop());

describe("npm run package", () => {
  it("builds a zip that, unpacked, loads and runs the handler with production dependencies only", async () => {
    const dir = tempDir();
    const zipFile = await packageFunction(path.join(dir, "fn.zip"));
    const app = path.join(dir, "app-root");
    const names = await unzip(zipFile, app);
    expect(names).toEqual(
      expect.arrayContaining([
        "index.js",
        "package.json",
        "app/package.json",
        "app/handler.js",
        "app/run.js",
      ]),
    );
    expect(names.some((n) => n.startsWith("node_modules/esdk-obs-nodejs/"))).toBe(true);
    expect(names.some((n) => n.startsWith("node_modules/@huaweicloud/huaweicloud-sdk-core/"))).toBe(true);
    // Development tools stay out.
    for (const dev of ["vitest", "typescript", "s3rver", "eslint"])
      expect(names.some((n) => n.startsWith(`node_modules/${dev}/`))).toBe(false);
    expect(existsSync(path.join(app, "test"))).toBe(false);

    const event = {
      cts: makeTrace({
        traceName: "login",
        sourceIp: "203.0.113.77",
        time: new Date("2024-07-19T05:00:00Z"),
      }),
    };
    const script = `
      const { handler } = require("./index.js");
      const data = ${JSON.stringify({ SMN_Topic: "cts-login-alerts", SMN_ENDPOINT: smn.endpoint, IP: "192.0.2.0/24" })};
      const ctx = {
        getUserData: (k) => data[k],
        getSecurityAccessKey: () => "HSTAFUNCTIONAK",
        getSecuritySecretKey: () => "functionSecret",
        getSecurityToken: () => "functionToken",
        getProjectID: () => ${JSON.stringify(smn.projectId)},
        getRemainingTimeInMilliSeconds: () => 60000,
      };
      handler(${JSON.stringify(event)}, ctx).then((r) => process.stderr.write("RESULT " + JSON.stringify(r) + "\\n"));
    `;
    // Run from the unpacked folder with a clean environment: no node_modules of this project can leak in.
    const { stderr } = await new Promise<{ stderr: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        ["-e", script],
        { cwd: app, env: { PATH: process.env.PATH ?? "" } },
        (err, _out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve({ stderr })),
      ),
    );
    const result = JSON.parse(/RESULT (.*)/.exec(stderr)![1]!) as {
      ok: boolean;
      runs: Array<{ summary: { alerts: number } }>;
    };
    expect(result.ok).toBe(true);
    expect(result.runs[0]!.summary.alerts).toBe(1);
    expect(smn.published).toHaveLength(1);
    expect(smn.published[0]!.headers["x-security-token"]).toBe("functionToken");
  }, 60_000);
});
