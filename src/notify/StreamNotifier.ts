import type { Writable } from "node:stream";
import type { NotificationRecord } from "../report/types.js";
import { safeLine, safeMultiline } from "../safeText.js";
import type { AlertDigest, Notifier } from "./types.js";

/**
 * Renders a digest as plain text: every part, in order, redacted and with control characters other than its own
 * line breaks escaped (a digest may come from anywhere: this is the last step before it leaves the process).
 */
export function digestText(digest: AlertDigest): string {
  return `${digest.parts.map(safeMultiline).join("\n\n")}\n`;
}

/** The digest as a file's content (`--notify file:`, a saved unsent digest): the subject line, then the text. */
export function digestDocument(digest: AlertDigest): string {
  return `${safeLine(digest.subject)}\n\n${digestText(digest)}`;
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
