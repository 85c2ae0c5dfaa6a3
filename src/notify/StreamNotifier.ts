import type { Writable } from "node:stream";
import type { NotificationRecord } from "../report/types.js";
import type { AlertDigest, Notifier } from "./types.js";

/** Renders a digest as plain text: every part, in order. */
export function digestText(digest: AlertDigest): string {
  return `${digest.parts.join("\n\n")}\n`;
}

/** Writes the digest to a stream (stdout for `--notify stdout`). */
export class StreamNotifier implements Notifier {
  constructor(
    readonly sink: string,
    private readonly out: Writable,
  ) {}

  async send(digest: AlertDigest): Promise<NotificationRecord> {
    await new Promise<void>((resolve, reject) =>
      this.out.write(`${digestText(digest)}\n`, (err) => (err ? reject(err) : resolve())),
    );
    return { sink: this.sink, parts: digest.parts.length, messageIds: [] };
  }
}
