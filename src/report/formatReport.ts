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

function count<T>(items: readonly T[], test: (t: T) => boolean): number {
  return items.reduce((n, t) => n + (test(t) ? 1 : 0), 0);
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

  if (report.verify !== "off") {
    const traces = report.files.filter((f) => f.kind === "trace");
    const byVerdict = new Map<string, number>();
    for (const f of traces) byVerdict.set(f.integrity, (byVerdict.get(f.integrity) ?? 0) + 1);
    const validDigests = count(report.digests, (d) => d.status === "valid");
    out.push(
      `Integrity: ${validDigests}/${report.digests.length} digest files valid; trace files: ` +
        ([...byVerdict.entries()].map(([k, v]) => `${v} ${k}`).join(", ") || "none"),
    );
    const chains = [...new Set(report.digests.map((d) => d.chain))].sort();
    for (const chain of chains) {
      const ds = report.digests.filter((d) => d.chain === chain);
      const ends = ds
        .map((d) => d.end)
        .filter((e): e is string => !!e)
        .sort();
      out.push(
        `  chain ${chain}: ${ds.length} digests, ${count(ds, (d) => d.status === "valid")} valid` +
          (ends.length ? `, covering to ${ends[ends.length - 1]}` : ""),
      );
    }
    const problems: string[] = [];
    for (const d of report.digests) {
      if (d.status !== "valid")
        problems.push(`  Digest file  ${d.object}  INVALID: ${d.status}${d.reason ? ` (${d.reason})` : ""}`);
    }
    for (const f of report.files) {
      if (f.integrity === "modified" || f.integrity === "unlisted" || f.integrity === "missing") {
        problems.push(
          `  Trace file   ${f.object}  INVALID: ${f.integrity}${f.reason || f.error ? ` (${f.reason || f.error})` : ""}`,
        );
      }
    }
    for (const g of report.gaps)
      problems.push(`  Gap in ${g.chain}: ${g.from || "?"} to ${g.to}${g.reason ? ` (${g.reason})` : ""}`);
    if (problems.length) out.push("Integrity findings:", ...problems);
    const pending = count(traces, (f) => f.integrity === "pending");
    if (pending)
      out.push(
        `  ${pending} trace files are pending: newer than every digest, verify again after the next digest lands`,
      );
    const unverified = count(traces, (f) => f.integrity === "unverified" && f.status !== "skipped");
    if (unverified && report.digests.length === 0) {
      out.push(
        '  No digest files found: is "Verify Trace File" enabled on the tracker? Trace files are unverified.',
      );
    }
  }

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
