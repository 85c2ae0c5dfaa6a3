import { mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { NotifyError } from "../errors.js";
import type { NotificationRecord } from "../report/types.js";
import { digestDocument } from "./StreamNotifier.js";
import type { AlertDigest, Notifier } from "./types.js";

/** Writes the digest to a file (`--notify file:PATH`), atomically: a reader never sees half a digest. */
export class FileNotifier implements Notifier {
  readonly sink = "file";
  readonly target: string;
  constructor(private readonly file: string) {
    this.target = `file:${path.resolve(file)}`;
  }

  async send(digest: AlertDigest): Promise<NotificationRecord> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      await mkdir(path.dirname(path.resolve(this.file)), { recursive: true });
      await writeFile(tmp, digestDocument(digest), "utf8");
      await rename(tmp, this.file);
    } catch (err) {
      throw new NotifyError("FILE", `writing the digest to ${this.file} failed`, { cause: err });
    }
    return { sink: "file", parts: digest.parts.length, messageIds: [this.file] };
  }
}
