import type { GeoDataInfo } from "../enrich/GeoLookup.js";
import type { Alert, FileIntegrity } from "../detect/types.js";

/** `digests[].status` (DESIGN "JSON report"). */
export type DigestStatus =
  "valid" | "invalid-signature" | "hash-mismatch" | "moved" | "missing" | "invalid-format" | "unanchored";

/** One object's outcome. Every listed object appears exactly once. */
export interface FileRecord {
  object: string;
  kind: "trace" | "digest" | "other";
  status: "scanned" | "skipped" | "failed";
  traces: number;
  /** Traces of this file that the rules audited (inside the window, audited trace names). */
  matched?: number;
  integrity: FileIntegrity;
  /** Why the object failed (empty when it did not). */
  error: string;
  /** Why the object was skipped (empty when it was not). */
  reason?: string;
  /** Stored size in bytes, when known. */
  bytes?: number;
  /** Hex MD5 of the stored bytes, when read or listed. */
  md5?: string;
  /** For integrity findings: the digest that lists the file. */
  digest?: string;
  /**
   * Elements over the 64 MB element cap, skipped unread (the rest of the file was read): how many, and the first
   * few by index among the file's traces, offset in the decompressed content and size in bytes.
   */
  oversized?: { count: number; elements: Array<{ index: number; offset: number; bytes: number }> };
}

/** One digest file's verdict. */
export interface DigestRecord {
  object: string;
  status: DigestStatus;
  chain: string;
  /** The hour the digest covers (ISO-8601), when readable. */
  start?: string;
  end?: string;
  /** Trace files it lists. */
  files?: number;
  /** Why the status is not `valid`. */
  reason?: string;
}

/** A stretch of time a digest chain does not cover. */
export interface GapRecord {
  chain: string;
  from: string;
  to: string;
  reason?: string;
}

/** One notification sent (or attempted). */
export interface NotificationRecord {
  sink: string;
  parts: number;
  messageIds: string[];
  /** Set when sending failed; where the digest was kept instead. */
  error?: string;
  savedTo?: string;
}

/** What a report says of its run before any record: written first. */
export interface ReportHeader {
  version: 1;
  command: "scan" | "verify";
  sources: string[];
  startedAt: string;
  window: { since?: string; until?: string };
  verify: "off" | "warn" | "require";
  /**
   * The country and network data alerts were enriched with: source, exact version, licence and attribution
   * (DESIGN "Enrichment"; the ASN data's CC BY 4.0 licence asks for the attribution). Absent when no lookup ran.
   */
  geoData?: GeoDataInfo[];
}

/** The run's counts (`summary` in the JSON report). */
export interface ReportSummary {
  objects: number;
  traceFiles: number;
  digestFiles: number;
  traces: number;
  matched: number;
  alerts: number;
  suppressed: number;
  failed: number;
  skipped: number;
  integrityViolations: number;
  /** Objects whose outcome came from the state store (done by an earlier run, not read again). */
  reused: number;
}

/** What a report says of its run once it is over: written last. */
export interface ReportTail {
  finishedAt: string;
  summary: ReportSummary;
  alerts: Alert[];
  notifications: NotificationRecord[];
  /** Failures of the run itself, not of one object (a state store that could not be written). */
  errors: string[];
  /**
   * Process exit code: 0, 1 or 3 as the run asks (2 is for usage errors, before any run); the command line sets
   * 130 or 143 when SIGINT or SIGTERM stopped the run, so that the report states the code the process exits with.
   */
  exitCode: 0 | 1 | 3 | 130 | 143;
}

/** The run report (`--format json`). Keys are a contract: extend, never rename. */
export interface Report extends ReportHeader, ReportTail {
  files: FileRecord[];
  digests: DigestRecord[];
  gaps: GapRecord[];
}

/**
 * Where a run's report goes, record by record: the engine calls `begin`, then `file`/`digest`/`gap` as units
 * complete (awaiting each, for back-pressure), then `end`. Writers keep only what their format needs at the end.
 */
export interface ReportWriter {
  begin(header: ReportHeader): Promise<void>;
  file(record: FileRecord): Promise<void>;
  /**
   * A file record given as its JSON text, exactly `JSON.stringify(record)` (a rerun's replayed records, kept as
   * text: parsing them to write them again was a third of a rerun). Writers without it are given the record.
   */
  fileText?(json: string): Promise<void>;
  digest(record: DigestRecord): Promise<void>;
  gap(record: GapRecord): Promise<void>;
  end(tail: ReportTail): Promise<void>;
}
