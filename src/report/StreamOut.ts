import { once } from "node:events";
import type { Writable } from "node:stream";

// Text is handed to the stream in pieces of about this many characters: a stream write a record (a Buffer, a
// write request and a callback each) cost more than the JSON.stringify of a small file's record.
const PIECE_CHARS = 64 * 1024;
const DONE: Promise<void> = Promise.resolve();
const ignore = () => undefined;

/**
 * Writes text to a stream and waits only when the stream asks it to (back-pressure), not after every write.
 * Writes are gathered into pieces of about 64 KB; what is gathered goes out at the latest once the event loop
 * turns (records still stream as units complete, never held until the end), and `flush` sends it at once.
 */
export class StreamOut {
  private pending = "";
  private scheduled = false;
  /** Set while the stream is full: writers wait on it. */
  private draining: Promise<void> | undefined;

  constructor(private readonly stream: Writable) {}

  write(text: string): Promise<void> {
    this.pending += text;
    if (this.draining) return this.draining;
    if (this.pending.length >= PIECE_CHARS) return this.push();
    this.schedule();
    return DONE;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.draining) this.push().catch(ignore);
    });
  }

  /** Hands what is gathered to the stream; resolves at once unless the stream is full (then on `drain`). */
  private push(): Promise<void> {
    const text = this.pending;
    if (text === "") return DONE;
    this.pending = "";
    if (this.stream.write(text)) return DONE;
    const draining: Promise<void> = once(this.stream, "drain").then(() => {
      if (this.draining === draining) this.draining = undefined;
      if (this.pending !== "") this.schedule();
    });
    // A stream error rejects every writer waiting here (and the next flush); none of them is left unhandled.
    draining.catch(ignore);
    this.draining = draining;
    return draining;
  }

  /**
   * Writes bytes as they are, after what is gathered (text already encoded, such as a spooled part of a report:
   * decoded and encoded again, a million records' copy cost half a second). Waits when the stream is full.
   */
  async writeBytes(bytes: Buffer): Promise<void> {
    while (this.draining) await this.draining;
    await this.push();
    if (this.stream.write(bytes)) return;
    await once(this.stream, "drain");
  }

  /** Resolves when everything written so far has been handed to the operating system. */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
    await this.push();
    await new Promise<void>((resolve, reject) =>
      this.stream.write("", (err) => (err ? reject(err) : resolve())),
    );
  }
}
