import type { Report } from "./types.js";

/** The report as one JSON document. */
export function formatJson(report: Report): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The report as NDJSON: one record a line, each with a `type`; the summary last (as NdjsonWriter writes it). */
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

export { formatText } from "./TextWriter.js";
