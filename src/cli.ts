#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseCli, USAGE, type Config } from "./config.js";
import { ConfigError, CtsAuditError, describeError } from "./errors.js";
import { FileNotifier } from "./notify/FileNotifier.js";
import { SmnClient } from "./notify/SmnClient.js";
import { SmnNotifier } from "./notify/SmnNotifier.js";
import { StreamNotifier, digestText } from "./notify/StreamNotifier.js";
import { ObsSource } from "./sources/ObsSource.js";
import type { AlertDigest, Notifier } from "./notify/types.js";
import { formatJson, formatNdjson, formatText } from "./report/formatReport.js";
import { run } from "./run.js";
import { LocalSource } from "./sources/LocalSource.js";
import type { ObjectSource } from "./sources/types.js";

async function buildSources(config: Config): Promise<ObjectSource[]> {
  const sources: ObjectSource[] = [];
  const problems: string[] = [];
  for (const location of config.sources) {
    if (location.startsWith("obs://")) {
      // parseCli has checked that the endpoint and credentials an obs:// source needs are set.
      const { obsEndpoint, credentials } = config.cloud;
      sources.push(
        new ObsSource(location, {
          endpoint: obsEndpoint!,
          accessKeyId: credentials!.accessKeyId,
          secretAccessKey: credentials!.secretAccessKey,
          securityToken: credentials!.securityToken,
          window: { since: config.since, until: config.until },
        }),
      );
      continue;
    }
    try {
      sources.push(await LocalSource.open(location));
    } catch (err) {
      problems.push(`<source> ${describeError(err)}: give an existing directory or file`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return sources;
}

function buildNotifier(config: Config): Notifier | undefined {
  switch (config.notify.kind) {
    case "none":
      return undefined;
    case "stdout":
      return new StreamNotifier("stdout", process.stdout);
    case "file":
      return new FileNotifier(config.notify.path);
    case "smn": {
      const { smnEndpoint, credentials, smnTopic } = config.cloud;
      return new SmnNotifier(new SmnClient(smnEndpoint!, credentials!), smnTopic!);
    }
  }
}

/** Keeps a digest that could not be sent as a text file; returns its path. */
async function saveUnsentDigest(dir: string, digest: AlertDigest): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `cts-audit-unsent-${new Date().toISOString().replace(/[:.]/g, "-")}.txt`);
  await writeFile(file, `${digest.subject}\n\n${digestText(digest)}`, { encoding: "utf8", flag: "wx" });
  return file;
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(text, (err) => (err ? reject(err) : resolve())),
  );
}

/** The command line: argv -> Config -> run -> report on stdout, exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  try {
    const request = parseCli(argv, process.env);
    if (request.kind === "help") {
      await write(`${USAGE}\n`);
      return 0;
    }
    if (request.kind === "version") {
      const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
        version: string;
      };
      await write(`${pkg.version}\n`);
      return 0;
    }
    const { config } = request;
    const sources = await buildSources(config);
    const notifier = buildNotifier(config);
    const report = await run(config, {
      sources,
      notifier,
      saveUnsent: (digest) => saveUnsentDigest(config.cloud.unsentDir, digest),
      warn: (message) => process.stderr.write(`cts-audit: warning: ${message}\n`),
    });
    const text =
      config.format === "json"
        ? formatJson(report)
        : config.format === "ndjson"
          ? formatNdjson(report)
          : formatText(report);
    await write(text);
    return report.exitCode;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`cts-audit: error: ${problem}\n`);
      process.stderr.write("Run cts-audit --help for usage.\n");
      return 2;
    }
    const code = err instanceof CtsAuditError ? ` [${err.code}]` : "";
    process.stderr.write(`cts-audit: error${code}: ${describeError(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cts-audit: unexpected error: ${describeError(err)}\n`);
    process.exitCode = 1;
  },
);
