import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The project root, and the built command line as users run it (`npm test` builds first). */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const cliPath = path.join(root, "dist", "cli.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the command line in a child process with exactly this environment (plus PATH), asynchronously: the
 * servers the tests start live in the test process and must keep answering while it runs.
 */
export function runCli(args: readonly string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [cliPath, ...args],
      { env: { PATH: process.env.PATH ?? "", ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

/** `scan` of the committed sample bucket with its key and allowlist, a json report and the SMN sink, as tests run it. */
export function sampleScanToSmn(...more: string[]): string[] {
  return [
    "scan",
    path.join(root, "fixtures", "sample-bucket"),
    "--public-key",
    path.join(root, "fixtures", "keys", "test-public.pem"),
    "--allow-file",
    path.join(root, "fixtures", "sample-allowlist.txt"),
    "--format",
    "json",
    "--notify",
    "smn",
    ...more,
  ];
}
