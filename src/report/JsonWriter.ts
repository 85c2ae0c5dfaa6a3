import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import type { Writable } from "node:stream";
import { StreamOut } from "./StreamOut.js";
import type { DigestRecord, FileRecord, GapRecord, ReportHeader, ReportTail, ReportWriter } from "./types.js";

type Spooled = "files" | "digests" | "gaps";

/** One array of the report, spooled to a temporary file as records arrive: one JSON element a line. */
class Spool {
  readonly out: StreamOut;
  count = 0;
  constructor(
    readonly file: string,
    readonly stream: WriteStream,
  ) {
    this.out = new StreamOut(stream);
  }
  add(record: object): Promise<void> {
    return this.out.write(`${this.count++ === 0 ? "" : ",\n"}    ${JSON.stringify(record)}`);
  }
}

/** Characters of alerts gathered before one write (see JsonWriter.end). */
const ALERT_BATCH_CHARS = 64 * 1024;

const indent = (value: unknown) => JSON.stringify(value, null, 2).replace(/\n/g, "\n  ");

/**
 * The report as one JSON document (`--format json`), written incrementally with the schema and key order of the
 * whole-report document: the summary comes before `files` in that order but is known only at the end, so file,
 * digest and gap records are spooled to temporary files as units complete and copied out behind the summary.
 * Memory holds only the alerts, whatever the number of objects (V8's string limit made the one-string document
 * fail near 1.4 million objects).
 */
export class JsonWriter implements ReportWriter {
  private readonly out: StreamOut;
  private header: ReportHeader | undefined;
  private dir: string | undefined;
  private readonly spools = new Map<Spooled, Spool>();

  constructor(
    private readonly stream: Writable,
    private readonly spoolDir: string = tmpdir(),
  ) {
    this.out = new StreamOut(stream);
  }

  async begin(header: ReportHeader): Promise<void> {
    this.header = header;
    this.dir = await mkdtemp(path.join(this.spoolDir, "cts-audit-report-"));
    for (const name of ["files", "digests", "gaps"] as const) {
      const file = path.join(this.dir, `${name}.jsonl`);
      // A large buffer: with the default 16 KB, the run waited on the disk every few dozen records.
      this.spools.set(name, new Spool(file, createWriteStream(file, { highWaterMark: 1 << 20 })));
    }
  }

  private spool(name: Spooled): Spool {
    const s = this.spools.get(name);
    if (!s) throw new Error("JsonWriter: begin() was not called");
    return s;
  }

  file(record: FileRecord): Promise<void> {
    return this.spool("files").add(record);
  }

  digest(record: DigestRecord): Promise<void> {
    return this.spool("digests").add(record);
  }

  gap(record: GapRecord): Promise<void> {
    return this.spool("gaps").add(record);
  }

  async end(tail: ReportTail): Promise<void> {
    const h = this.header;
    if (!h || !this.dir) throw new Error("JsonWriter: begin() was not called");
    try {
      for (const s of this.spools.values()) {
        await s.out.flush();
        s.stream.end();
        await finished(s.stream);
      }
      const head = { ...h, finishedAt: tail.finishedAt };
      const w = (text: string) => this.out.write(text);
      await w("{\n");
      for (const key of [
        "version",
        "command",
        "sources",
        "startedAt",
        "finishedAt",
        "window",
        "verify",
      ] as const)
        await w(`  ${JSON.stringify(key)}: ${indent(head[key])},\n`);
      if (head.geoData) await w(`  "geoData": ${indent(head.geoData)},\n`);
      await w(`  "summary": ${indent(tail.summary)},\n`);
      await w(`  "alerts": [`);
      // Alerts go out in batches: stdout to a pipe or a file is written synchronously, one system call a write,
      // and an alert-heavy run has tens of thousands of alerts.
      let batch = "";
      for (const [i, a] of tail.alerts.entries()) {
        batch += `${i === 0 ? "\n" : ",\n"}    ${JSON.stringify(a)}`;
        if (batch.length >= ALERT_BATCH_CHARS) {
          await w(batch);
          batch = "";
        }
      }
      await w(`${batch}${tail.alerts.length ? "\n  ],\n" : "],\n"}`);
      for (const name of ["files", "digests", "gaps"] as const) {
        const s = this.spool(name);
        await w(`  ${JSON.stringify(name)}: [${s.count ? "\n" : ""}`);
        // utf8 decoding in the stream keeps a character split across chunks whole.
        for await (const chunk of createReadStream(s.file, { encoding: "utf8" })) await w(chunk as string);
        await w(s.count ? "\n  ],\n" : "],\n");
      }
      await w(`  "notifications": ${indent(tail.notifications)},\n`);
      await w(`  "errors": ${indent(tail.errors)},\n`);
      await w(`  "exitCode": ${tail.exitCode}\n}\n`);
      await this.out.flush();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
