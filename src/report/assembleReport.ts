import type { DigestRecord, FileRecord, GapRecord, Report, ReportHeader, ReportTail } from "./types.js";

/**
 * The whole report in the JSON report's key order (DESIGN "JSON report"), the order JsonWriter writes too.
 * `records` are what a collecting writer kept; a streamed run returns empty arrays.
 */
export function assembleReport(
  header: ReportHeader,
  tail: ReportTail,
  records: { files: FileRecord[]; digests: DigestRecord[]; gaps: GapRecord[] } | undefined,
): Report {
  return {
    version: header.version,
    command: header.command,
    sources: header.sources,
    startedAt: header.startedAt,
    finishedAt: tail.finishedAt,
    window: header.window,
    verify: header.verify,
    ...(header.geoData ? { geoData: header.geoData } : {}),
    summary: tail.summary,
    alerts: tail.alerts,
    files: records?.files ?? [],
    digests: records?.digests ?? [],
    gaps: records?.gaps ?? [],
    notifications: tail.notifications,
    errors: tail.errors,
    exitCode: tail.exitCode,
  };
}
