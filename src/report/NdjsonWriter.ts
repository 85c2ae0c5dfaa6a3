import type { Writable } from "node:stream";
import { StreamOut } from "./StreamOut.js";
import type { DigestRecord, FileRecord, GapRecord, ReportHeader, ReportTail, ReportWriter } from "./types.js";

/**
 * The report as NDJSON (`--format ndjson`): one record a line, each with a `type`. Files, digests and gaps are
 * written as their unit completes; alerts (known only once the run is deduped), notifications, errors and the
 * summary come last. Nothing but the header is kept.
 */
export class NdjsonWriter implements ReportWriter {
  private readonly out: StreamOut;
  private header: ReportHeader | undefined;

  constructor(stream: Writable) {
    this.out = new StreamOut(stream);
  }

  private emit(type: string, record: object): Promise<void> {
    return this.out.write(`${JSON.stringify({ type, ...record })}\n`);
  }

  async begin(header: ReportHeader): Promise<void> {
    this.header = header;
    // The data's version and attribution travel with the records that use it, first, like a header.
    if (header.geoData) await this.emit("geoData", { data: header.geoData });
  }

  file(record: FileRecord): Promise<void> {
    return this.emit("file", record);
  }

  /**
   * A file record as its JSON text (a replayed unit's): the line `emit` writes, without parsing it (a record has
   * no `type` of its own, and always an `object`).
   */
  fileText(json: string): Promise<void> {
    return this.out.write(`{"type":"file",${json.slice(1)}\n`);
  }

  digest(record: DigestRecord): Promise<void> {
    return this.emit("digest", record);
  }

  gap(record: GapRecord): Promise<void> {
    return this.emit("gap", record);
  }

  async end(tail: ReportTail): Promise<void> {
    for (const a of tail.alerts) await this.emit("alert", a);
    for (const n of tail.notifications) await this.emit("notification", n);
    for (const e of tail.errors) await this.emit("error", { message: e });
    const h = this.header;
    await this.emit("summary", {
      command: h?.command,
      sources: h?.sources,
      startedAt: h?.startedAt,
      finishedAt: tail.finishedAt,
      window: h?.window,
      verify: h?.verify,
      ...tail.summary,
      exitCode: tail.exitCode,
    });
    await this.out.flush();
  }
}
