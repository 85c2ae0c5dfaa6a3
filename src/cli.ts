#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { buildLedger, buildNotifier, buildSources, saveUnsentDigest } from "./adapters.js";
import { parseCli, USAGE, wantsRules } from "./config.js";
import { loadRulesParser } from "./detect/rulesParser.js";
import { ConfigError, CtsAuditError, describeError, LedgerBusyError } from "./errors.js";
import { HtmlWriter } from "./report/HtmlWriter.js";
import type { AlertDigest } from "./notify/types.js";
import { JsonWriter } from "./report/JsonWriter.js";
import { NdjsonWriter } from "./report/NdjsonWriter.js";
import { TextWriter } from "./report/TextWriter.js";
import { run, type Progress } from "./run.js";
import { registerSecrets, safeLine } from "./safeText.js";

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) =>
    process.stdout.write(text, (err) => (err ? reject(err) : resolve())),
  );
}

/** A progress bar on stderr when it is a terminal: objects, bytes, alerts, ETA. */
async function progressBar(enabled: boolean): Promise<{ update: (p: Progress) => void; stop: () => void }> {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const { SingleBar } = await import("cli-progress");
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: "{bar} {value}/{total} objects | {mb}/{totalMb} MB | {alerts} alerts | ETA {eta_formatted}",
      hideCursor: true,
      clearOnComplete: true,
    },
    undefined,
  );
  let started = false;
  return {
    update: (p) => {
      const payload = {
        mb: (p.bytesDone / 1e6).toFixed(1),
        totalMb: (p.bytesTotal / 1e6).toFixed(1),
        alerts: p.alerts,
      };
      if (!started) {
        bar.start(p.objectsTotal, 0, payload);
        started = true;
      }
      // The listing streams: the total grows until it is complete.
      bar.setTotal(p.objectsTotal);
      bar.update(p.objectsDone, payload);
    },
    stop: () => started && bar.stop(),
  };
}

/** The command line: argv -> Config -> run -> report on stdout, exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let stopReason: string | undefined;
  let exitForSignal: 130 | 143 | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopReason) process.exit(128 + (signal === "SIGINT" ? 2 : 15)); // a second signal: stop now
    stopReason = `interrupted by ${signal}`;
    exitForSignal = signal === "SIGINT" ? 130 : 143;
    process.stderr.write(
      `cts-audit: ${signal}: finishing objects in flight and saving state; send again to stop at once\n`,
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    // Before anything is parsed: a configuration error quotes values back, and a secret given to the wrong option
    // or variable (the SK as an endpoint) must come out redacted.
    registerSecrets(
      process.env.HUAWEICLOUD_SDK_AK,
      process.env.HUAWEICLOUD_SDK_SK,
      process.env.HUAWEICLOUD_SDK_SECURITY_TOKEN,
    );
    if (wantsRules(argv, process.env)) await loadRulesParser();
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
    const credentials = config.cloud.credentials;
    registerSecrets(credentials?.accessKeyId, credentials?.secretAccessKey, credentials?.securityToken);
    for (const warning of [...config.allowList.warnings, ...config.rulesWarnings])
      process.stderr.write(`cts-audit: warning: ${safeLine(warning)}\n`);
    const bar = await progressBar(process.stderr.isTTY === true && !config.quiet);
    // The report streams to stdout as units complete: a million-object run never holds its records.
    const writer =
      config.format === "json"
        ? new JsonWriter(process.stdout)
        : config.format === "ndjson"
          ? new NdjsonWriter(process.stdout)
          : config.format === "html"
            ? new HtmlWriter(process.stdout)
            : new TextWriter(process.stdout);
    const sinks = {
      report: writer,
      notifier: await buildNotifier(config.notify, config.cloud),
      ledger: await buildLedger(config.state, config.cloud, config.stateRetentionMs),
      saveUnsent: (digest: AlertDigest) => saveUnsentDigest(config.cloud.unsentDir, digest),
      warn: (message: string) => process.stderr.write(`cts-audit: warning: ${safeLine(message)}\n`),
      shouldStop: () => stopReason,
      signalExitCode: () => exitForSignal,
      ledgerWaitMs: config.stateWaitMs,
    };
    if (config.fanOut) {
      // Loaded only for --fan-out: a plain scan does not pay for the coordinator.
      const { runFanOut } = await import("./fanout/runFanOut.js");
      const progress = (line: string) => process.stderr.write(`cts-audit: ${safeLine(line)}\n`);
      return (await runFanOut(config, { ...sinks, ...(config.quiet ? {} : { progress }) })).exitCode;
    }
    const report = await run(config, {
      ...sinks,
      sources: await buildSources(config.sources, config.cloud, config),
      onProgress: bar.update,
    }).finally(() => bar.stop());
    return report.exitCode;
  } catch (err) {
    if (err instanceof LedgerBusyError) {
      // Another run holds the ledger: two writers could send an alert twice. A usage conflict: exit 2.
      process.stderr.write(`cts-audit: error [${err.code}]: ${safeLine(describeError(err))}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`cts-audit: error: ${problem}\n`);
      process.stderr.write("Run cts-audit --help for usage.\n");
      return 2;
    }
    const code = err instanceof CtsAuditError ? ` [${err.code}]` : "";
    process.stderr.write(`cts-audit: error${code}: ${describeError(err)}\n`);
    return 1;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
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
