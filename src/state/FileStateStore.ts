import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename } from "node:fs/promises";
import path from "node:path";
import type { Alert } from "../detect/types.js";
import { CtsAuditError, describeError } from "../errors.js";
import type { ObjectOutcome, StateStore } from "./types.js";

interface LedgerFile {
  version: 1;
  objects: Record<string, ObjectOutcome>;
  alerted: Record<string, { messageId: string; at: string }>;
  pending: Alert[];
}

/** A state store in one local JSON file, written atomically (temporary file, fsync, rename). */
export class FileStateStore implements StateStore {
  private ledger: LedgerFile = { version: 1, objects: {}, alerted: {}, pending: [] };
  private dirty = false;

  /**
   * @param file the ledger's path
   * @param retentionMs entries older than this are dropped when the ledger is written (bounded growth)
   */
  constructor(
    private readonly file: string,
    private readonly retentionMs: number,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  get location(): string {
    return this.file;
  }

  async open(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      // No ledger yet (ENOTDIR: a path that cannot exist; writing it will fail and be reported then).
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return;
      throw new CtsAuditError("STATE", `state file ${this.file} cannot be read: ${describeError(err)}`, {
        cause: err,
      });
    }
    try {
      const parsed = JSON.parse(text) as LedgerFile;
      if (parsed.version !== 1 || typeof parsed.objects !== "object")
        throw new Error("not a cts-audit ledger");
      this.ledger = {
        version: 1,
        objects: parsed.objects ?? {},
        alerted: parsed.alerted ?? {},
        pending: parsed.pending ?? [],
      };
    } catch (err) {
      throw new CtsAuditError(
        "STATE",
        `state file ${this.file} is corrupt (${describeError(err)}): move it aside to start a new ledger; alerts already sent may then be sent again`,
        { cause: err },
      );
    }
  }

  async getObject(key: string, fingerprint: string): Promise<ObjectOutcome | undefined> {
    const o = this.ledger.objects[key];
    return o && o.fingerprint === fingerprint ? o : undefined;
  }

  async putObject(key: string, outcome: ObjectOutcome): Promise<void> {
    this.ledger.objects[key] = outcome;
    this.dirty = true;
  }

  async alerted(keys: readonly string[]): Promise<Set<string>> {
    return new Set(keys.filter((k) => k in this.ledger.alerted));
  }

  async markAlerted(keys: readonly string[], messageId: string): Promise<void> {
    const at = this.clock().toISOString();
    for (const k of keys) this.ledger.alerted[k] = { messageId, at };
    this.dirty = true;
  }

  async pending(): Promise<Alert[]> {
    return [...this.ledger.pending];
  }

  async setPending(alerts: readonly Alert[]): Promise<void> {
    this.ledger.pending = [...alerts];
    this.dirty = true;
  }

  async flush(): Promise<void> {
    if (!this.dirty) return;
    const cutoff = this.clock().getTime() - this.retentionMs;
    for (const [k, v] of Object.entries(this.ledger.objects))
      if (Date.parse(v.at) < cutoff) delete this.ledger.objects[k];
    for (const [k, v] of Object.entries(this.ledger.alerted))
      if (Date.parse(v.at) < cutoff) delete this.ledger.alerted[k];
    const dir = path.dirname(path.resolve(this.file));
    const tmp = path.join(dir, `.${path.basename(this.file)}.${randomUUID()}.tmp`);
    try {
      await mkdir(dir, { recursive: true });
      const handle = await open(tmp, "w");
      try {
        await handle.writeFile(JSON.stringify(this.ledger));
        // Durable before the rename: a crash leaves the old ledger or the new one, never half of one.
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      throw new CtsAuditError("STATE", `writing state file ${this.file} failed: ${describeError(err)}`, {
        cause: err,
      });
    }
    this.dirty = false;
  }
}
