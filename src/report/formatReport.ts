import { formatIntegrity } from "../integrity/formatIntegrity.js";
import type { Report } from "./types.js";

/** The report as one JSON document. */
export function formatJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The report as NDJSON: one record a line, each with a `type`; the summary last. */
export function formatNdjson(report: Report): string {
  const lines: string[] = [];
  const emit = (type: string, record: object) => lines.push(JSON.stringify({ type, ...record }));
  for (const a of report.alerts) emit("alert", a);
  for (const f of report.files) emit("file", f);
  for (const d of report.digests) emit("digest", d);
  for (const g of report.gaps) emit("gap", g);
  for (const n of report.notifications) emit("notification", n);
  for (const e of report.errors) emit("error", { message: e });
  emit("summary", {
    command: report.command,
    sources: report.sources,
    startedAt: report.startedAt,
    finishedAt: report.finishedAt,
    window: report.window,
    verify: report.verify,
    ...report.summary,
    exitCode: report.exitCode,
  });
  return `${lines.join("\n")}\n`;
}

/**
 * The report for a person. Like `aws cloudtrail validate-logs`, but it says more: per chain, counts, each violation
 * with its object and reason.
 */
export function formatText(report: Report): string {
  const s = report.summary;
  const out: string[] = [];
  out.push(
    `cts-audit ${report.command}: ${s.objects} objects (${s.traceFiles} trace files, ${s.digestFiles} digest files), ` +
      `${s.traces} traces read, ${s.matched} audited, ${s.alerts} alerts` +
      (s.suppressed ? ` (${s.suppressed} already sent)` : "") +
      `, ${s.failed} failed, ${s.skipped} skipped`,
  );
  if (report.window.since || report.window.until) {
    out.push(`Window: ${report.window.since ?? "start"} to ${report.window.until ?? "now"}`);
  }

  out.push(...formatIntegrity(report));

  const failed = report.files.filter((f) => f.status === "failed" && f.integrity !== "missing");
  if (failed.length) {
    out.push("Failed objects:");
    for (const f of failed) out.push(`  ${f.object}: ${f.error}`);
  }
  for (const n of report.notifications) {
    out.push(
      n.error
        ? `Notification via ${n.sink}: ${n.error}${n.savedTo ? `; digest saved to ${n.savedTo}` : ""}`
        : `Notification via ${n.sink}: ${n.parts} part(s)${n.messageIds.length ? ` [${n.messageIds.join(", ")}]` : ""}`,
    );
  }
  for (const e of report.errors) out.push(`Error: ${e}`);
  const notStarted = report.files.filter((f) => f.reason?.startsWith("not started"));
  if (notStarted.length)
    out.push(
      `Interrupted: ${notStarted.length} objects not started (${notStarted[0]!.reason}); run again to finish`,
    );
  if (report.command === "scan" && s.alerts === 0) out.push("No alerts.");
  out.push(`Exit code ${report.exitCode}`);
  return `${out.join("\n")}\n`;
}
