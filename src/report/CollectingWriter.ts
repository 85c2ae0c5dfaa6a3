import type { DigestRecord, FileRecord, GapRecord, ReportHeader, ReportTail, ReportWriter } from "./types.js";

/**
 * Keeps every record in memory: for small runs that return the whole report (the function, tests). A backfill's
 * command line streams instead.
 */
export class CollectingWriter implements ReportWriter {
  readonly files: FileRecord[] = [];
  readonly digests: DigestRecord[] = [];
  readonly gaps: GapRecord[] = [];

  async begin(_header: ReportHeader): Promise<void> {}
  async file(record: FileRecord): Promise<void> {
    this.files.push(record);
  }
  async digest(record: DigestRecord): Promise<void> {
    this.digests.push(record);
  }
  async gap(record: GapRecord): Promise<void> {
    this.gaps.push(record);
  }
  async end(_tail: ReportTail): Promise<void> {}
}
