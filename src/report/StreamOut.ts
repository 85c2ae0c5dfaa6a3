import { once } from "node:events";
import type { Writable } from "node:stream";

/** Writes text to a stream and waits only when the stream asks it to (back-pressure), not after every write. */
export class StreamOut {
  constructor(private readonly stream: Writable) {}

  async write(text: string): Promise<void> {
    if (!this.stream.write(text)) await once(this.stream, "drain");
  }

  /** Resolves when everything written so far has been handed to the operating system. */
  async flush(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.stream.write("", (err) => (err ? reject(err) : resolve())),
    );
  }
}
