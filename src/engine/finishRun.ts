import { enrichAlerts, geoAttribution } from "../enrich/enrichAlerts.js";
import type { CollectingWriter } from "../report/CollectingWriter.js";
import { assembleReport } from "../report/assembleReport.js";
import type { Report, ReportHeader, ReportWriter } from "../report/types.js";
import { deliver } from "./deliver.js";
import { exitCode } from "./exitCode.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import type { RunTally } from "./RunTally.js";
import type { EngineOptions, RunDeps } from "./types.js";

/** What a run (or a fan-out reducer) has when its records are all written. */
export interface FinishedScan {
  options: EngineOptions;
  deps: Pick<RunDeps, "notifier" | "digestLimits" | "saveUnsent" | "warn" | "signalExitCode">;
  header: ReportHeader;
  tally: RunTally;
  ledger: LedgerPolicy;
  writer: ReportWriter;
  collector: CollectingWriter | undefined;
  errors: string[];
  clock: () => Date;
}

/**
 * The end of a run, shared by `run()` and the fan-out reducer: enrich the alerts (one step on the run's alerts, a
 * lookup per alert cached per address, never per trace), deliver one digest through the ledger, close the ledger,
 * and write the report's tail with its exit code.
 */
export async function finishRun(f: FinishedScan): Promise<Report> {
  const { options, deps, header, tally, ledger } = f;
  // The units' queued writes first: a failure among them is the run's, and delivery follows what they recorded.
  await ledger.drain();
  const alerts = options.geo ? enrichAlerts(tally.sortedAlerts(), options.geo) : tally.sortedAlerts();
  for (const w of options.geo?.warnings ?? []) deps.warn?.(w);
  const windowText =
    options.since || options.until
      ? `${header.window.since ?? "start"} to ${header.window.until ?? "now"}`
      : undefined;
  const notification = await deliver(alerts, tally.findings, {
    notifier: deps.notifier,
    ledger,
    dryRun: options.dryRun,
    sources: header.sources,
    window: windowText,
    ...(header.geoData ? { attribution: geoAttribution(header.geoData) } : {}),
    digestLimits: deps.digestLimits,
    saveUnsent: deps.saveUnsent,
    warn: deps.warn,
  });
  await ledger.close();
  const summary = {
    ...tally.summary,
    alerts: alerts.length,
    suppressed: alerts.filter((a) => a.suppressed).length,
  };
  const notifications = notification ? [notification] : [];
  const tail = {
    finishedAt: f.clock().toISOString(),
    summary,
    alerts,
    notifications,
    errors: f.errors,
    exitCode: deps.signalExitCode?.() ?? exitCode({ summary, notifications, errors: f.errors }, options),
  };
  await f.writer.end(tail);
  return assembleReport(header, tail, f.collector);
}
