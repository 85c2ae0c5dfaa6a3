import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll } from "vitest";
import { parseCli, type Config } from "../../src/config.js";
import { run, type RunDeps } from "../../src/run.js";
import { LocalSource } from "../../src/sources/LocalSource.js";
import type { Report } from "../../src/report/types.js";

let keys: { privateKey: KeyObject; publicKey: KeyObject } | undefined;
/** An RSA key pair made at test time (once per test file). */
export function testKeys(): { privateKey: KeyObject; publicKey: KeyObject } {
  keys ??= generateKeyPairSync("rsa", { modulusLength: 2048 });
  return keys;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory removed after the test file. */
export function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "cts-audit-test-"));
  dirs.push(dir);
  return dir;
}

/** A Config as the command line would build it, with the test public key. */
export function configFor(args: string[], env: Record<string, string> = {}): Config {
  const pem = testKeys().publicKey.export({ type: "spki", format: "der" }).toString("base64");
  const keyArgs = args.includes("--public-key") ? [] : ["--public-key", pem];
  const request = parseCli([...args, ...keyArgs], env);
  if (request.kind !== "run") throw new Error("not a run");
  return request.config;
}

/** Runs the engine on local directories with CLI-style args (the sources are the positionals after the command). */
export async function runLocal(args: string[], extra: Partial<RunDeps> = {}): Promise<Report> {
  const config = configFor(args);
  const sources = await Promise.all(config.sources.map((s) => LocalSource.open(s)));
  return run(config, { sources, ...extra });
}
