import { createReadStream, createWriteStream, type WriteStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { finished } from "node:stream/promises";
import type { Writable } from "node:stream";
import { CtsAuditError, describeError } from "../errors.js";
import { StreamOut } from "./StreamOut.js";
import type { DigestRecord, FileRecord, GapRecord, ReportHeader, ReportTail, ReportWriter } from "./types.js";

type Spooled = "files" | "digests" | "gaps";

/**
 * Characters of records the three spools hold in memory, together, before they go to temporary files: a run of
 * about ten thousand objects never touches the disk (writing its records out and reading them back cost it more
 * in waits on the disk than in JSON.stringify), and memory stays bounded whatever the number of objects. Small, as
 * the text is held while the unit that wrote it may be at its peak (a scan of 100,000 files: peak RSS within its
 * run-to-run spread of about 10 MB).
 */
export const SPOOL_MEMORY_CHARS = 4 * 1024 * 1024;
const HELD_PIECE_CHARS = 256 * 1024;
const DONE: Promise<void> = Promise.resolve();

/**
 * One array of the report, one JSON element a line: held in memory while the writer's budget allows, then spooled
 * to a temporary file as records arrive.
 */
class Spool {
  count = 0;
  /**
   * The records while in memory, as UTF-8 pieces of about {@link HELD_PIECE_CHARS} (outside V8's heap: thousands
   * of record strings kept to the end of a run were copied by every garbage collection); undefined once spilled.
   */
  held: Buffer[] | undefined = [];
  /** Text not yet made a piece. */
  pending = "";
  file: string | undefined;
  stream: WriteStream | undefined;
  out: StreamOut | undefined;

  /** A record's line, from its JSON text. */
  text(json: string): string {
    return `${this.count++ === 0 ? "" : ",\n"}    ${json}`;
  }

  /** Moves what is held to `file` and streams the rest there. */
  spill(file: string): Promise<void> {
    this.file = file;
    // A large buffer: with the default 16 KB, the run waited on the disk every few dozen records.
    this.stream = createWriteStream(file, { highWaterMark: 1 << 20 });
    this.out = new StreamOut(this.stream);
    // What is held goes first, as it is (the stream keeps the order of writes; StreamOut has written nothing yet).
    for (const piece of this.held ?? []) this.stream.write(piece);
    this.held = undefined;
    const text = this.pending;
    this.pending = "";
    return this.out.write(text);
  }

  /** Holds `text` in memory. */
  hold(text: string): void {
    this.pending += text;
    if (this.pending.length >= HELD_PIECE_CHARS) this.settle();
  }

  /** What is pending becomes a piece. */
  settle(): void {
    if (this.pending === "") return;
    this.held?.push(Buffer.from(this.pending, "utf8"));
    this.pending = "";
  }
}

/** Characters of alerts gathered before one write (see JsonWriter.end). */
const ALERT_BATCH_CHARS = 64 * 1024;

const indent = (value: unknown) => JSON.stringify(value, null, 2).replace(/\n/g, "\n  ");

/**
 * The report as one JSON document (`--format json`), written incrementally with the schema and key order of the
 * whole-report document: the summary comes before `files` in that order but is known only at the end, so file,
 * digest and gap records are held (up to {@link SPOOL_MEMORY_CHARS}, then in temporary files) as units complete
 * and copied out behind the summary. Memory holds only the alerts and that bounded text, whatever the number of
 * objects (V8's string limit made the one-string document fail near 1.4 million objects).
 */
export class JsonWriter implements ReportWriter {
  private readonly out: StreamOut;
  private header: ReportHeader | undefined;
  private dir: string | undefined;
  private readonly spools = new Map<Spooled, Spool>();
  private heldChars = 0;
  private spilling: Promise<void> | undefined;

  constructor(
    private readonly stream: Writable,
    private readonly spoolDir: string = tmpdir(),
    /** Characters held in memory before spooling to files (tests set it small to exercise the files). */
    private readonly memoryChars: number = SPOOL_MEMORY_CHARS,
  ) {
    this.out = new StreamOut(stream);
  }

  async begin(header: ReportHeader): Promise<void> {
    this.header = header;
    for (const name of ["files", "digests", "gaps"] as const) this.spools.set(name, new Spool());
  }

  private add(name: Spooled, json: string): Promise<void> {
    const s = this.spools.get(name);
    if (!s) throw new Error("JsonWriter: begin() was not called");
    const text = s.text(json);
    if (s.out) return s.out.write(text);
    // Held (also while the spill is under way: the spool takes what it holds when its file opens).
    s.hold(text);
    this.heldChars += text.length;
    return this.heldChars > this.memoryChars ? this.spill() : DONE;
  }

  /** Over the memory budget: every spool goes to its temporary file from now on (once, whoever asks). */
  private spill(): Promise<void> {
    this.spilling ??= (async () => {
      let dir: string;
      try {
        dir = await mkdtemp(path.join(this.spoolDir, "cts-audit-report-"));
      } catch (err) {
        throw new CtsAuditError(
          "REPORT_SPOOL",
          `the JSON report keeps its records in a temporary directory beyond ${this.memoryChars} characters and ` +
            `cannot create one in ${this.spoolDir} (${describeError(err)}): set TMPDIR to a writable directory, ` +
            "or use --format ndjson, which keeps nothing",
          { cause: err },
        );
      }
      this.dir = dir;
      for (const [name, s] of this.spools) await s.spill(path.join(dir, `${name}.jsonl`));
    })();
    return this.spilling;
  }

  file(record: FileRecord): Promise<void> {
    return this.add("files", JSON.stringify(record));
  }

  /** A file record as its JSON text (a replayed unit's): written as it is. */
  fileText(json: string): Promise<void> {
    return this.add("files", json);
  }

  digest(record: DigestRecord): Promise<void> {
    return this.add("digests", JSON.stringify(record));
  }

  gap(record: GapRecord): Promise<void> {
    return this.add("gaps", JSON.stringify(record));
  }

  async end(tail: ReportTail): Promise<void> {
    const h = this.header;
    if (!h) throw new Error("JsonWriter: begin() was not called");
    try {
      await this.spilling;
      for (const s of this.spools.values()) {
        if (!s.out || !s.stream) continue;
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
        const s = this.spools.get(name)!;
        await w(`  ${JSON.stringify(name)}: [${s.count ? "\n" : ""}`);
        // The records' UTF-8 as it was written, copied in large pieces.
        if (s.held) {
          s.settle();
          for (const piece of s.held) await this.out.writeBytes(piece);
        } else if (s.file)
          for await (const chunk of createReadStream(s.file, { highWaterMark: 1 << 20 }))
            await this.out.writeBytes(chunk as Buffer);
        await w(s.count ? "\n  ],\n" : "],\n");
      }
      await w(`  "notifications": ${indent(tail.notifications)},\n`);
      await w(`  "errors": ${indent(tail.errors)},\n`);
      await w(`  "exitCode": ${tail.exitCode}\n}\n`);
      await this.out.flush();
    } finally {
      if (this.dir) await rm(this.dir, { recursive: true, force: true });
    }
  }
}
