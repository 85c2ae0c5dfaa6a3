import type { Report } from "../report/types.js";
import { isFileViolation } from "./failClosed.js";

function count<T>(items: readonly T[], test: (t: T) => boolean): number {
  return items.reduce((n, t) => n + (test(t) ? 1 : 0), 0);
}

/**
 * The text report's integrity section. Like `aws cloudtrail validate-logs` it says what was requested and what was
 * found, then per chain counts, then each violation with its object and reason; a run that verified nothing says
 * so in one line.
 */
export function formatIntegrity(report: Report): string[] {
  if (report.verify === "off") return [];
  const out: string[] = [];
  const traces = report.files.filter((f) => f.kind === "trace");
  out.push(
    `Results requested for ${report.window.since ?? "the oldest object"} to ${report.window.until ?? report.startedAt}`,
  );
  const starts = report.digests.flatMap((d) => (d.start ? [d.start] : [])).sort();
  const ends = report.digests.flatMap((d) => (d.end ? [d.end] : [])).sort();
  out.push(
    starts.length && ends.length
      ? `Results found for ${starts[0]} to ${ends[ends.length - 1]}`
      : "Results found: no digest file",
  );
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
    const chainEnds = ds.flatMap((d) => (d.end ? [d.end] : [])).sort();
    out.push(
      `  chain ${chain}: ${ds.length} digests, ${count(ds, (d) => d.status === "valid")} valid` +
        (chainEnds.length ? `, covering to ${chainEnds[chainEnds.length - 1]}` : ""),
    );
  }
  const problems: string[] = [];
  for (const g of report.gaps) {
    if (g.chain === "") problems.push(`  INTEGRITY NOT VERIFIED: ${g.reason ?? "nothing verified"}`);
  }
  for (const d of report.digests) {
    if (d.status !== "valid")
      problems.push(`  Digest file  ${d.object}  INVALID: ${d.status}${d.reason ? ` (${d.reason})` : ""}`);
  }
  for (const f of report.files) {
    if (isFileViolation(f.integrity)) {
      problems.push(
        `  Trace file   ${f.object}  INVALID: ${f.integrity}${f.reason || f.error ? ` (${f.reason || f.error})` : ""}`,
      );
    }
  }
  for (const g of report.gaps) {
    if (g.chain !== "")
      problems.push(`  Gap in ${g.chain}: ${g.from || "?"} to ${g.to}${g.reason ? ` (${g.reason})` : ""}`);
  }
  if (problems.length) out.push("Integrity findings:", ...problems);
  const pending = count(traces, (f) => f.integrity === "pending");
  if (pending)
    out.push(
      `  ${pending} trace files are pending: newer than every digest, verify again after the next digest lands`,
    );
  if (report.digests.length === 0 && count(traces, (f) => f.integrity === "unverified") > 0) {
    out.push(
      '  No digest files found: is "Verify Trace File" enabled on the tracker? Trace files are unverified.',
    );
  }
  return out;
}
