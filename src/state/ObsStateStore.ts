import { createHash } from "node:crypto";
import pLimit from "p-limit";
import type { Alert } from "../detect/types.js";
import { CtsAuditError, describeError } from "../errors.js";
import type { ObsBucket } from "../sources/ObsBucket.js";
import type { ObjectOutcome, StateStore } from "./types.js";

const id = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * A state store of small OBS objects under a prefix: one marker per completed object, per alerted trace and per
 * pending alert. Markers, not one ledger object, so that concurrent function invocations never overwrite each
 * other's records (OBS has no compare-and-swap). Keep the prefix outside `CloudTraces/` (the function ignores
 * every key that is not a CTS file anyway) and expire it with an OBS lifecycle rule.
 */
export class ObsStateStore implements StateStore {
  private present = new Set<string>();
  private readonly writes: Array<Promise<void>> = [];

  constructor(
    private readonly bucket: ObsBucket,
    private readonly prefix: string,
    private readonly clock: () => Date = () => new Date(),
  ) {
    if (prefix !== "" && !prefix.endsWith("/")) this.prefix = `${prefix}/`;
  }

  get location(): string {
    return `obs://${this.bucket.name}/${this.prefix}`;
  }

  private wrap<T>(what: string, p: Promise<T>): Promise<T> {
    return p.catch((err: unknown) => {
      throw new CtsAuditError(
        "STATE",
        `state store ${this.location}: ${what} failed: ${describeError(err)}`,
        { cause: err },
      );
    });
  }

  async open(): Promise<void> {
    // One listing tells which objects are done, so a backfill does not ask about each object it lists.
    const listed = await this.wrap("listing", this.bucket.listAll(`${this.prefix}objects/`));
    this.present = new Set(listed.map((o) => o.key));
  }

  async getObject(key: string, fingerprint: string): Promise<ObjectOutcome | undefined> {
    const marker = `${this.prefix}objects/${id(key)}.json`;
    if (!this.present.has(marker)) return undefined;
    const text = await this.wrap("reading", this.bucket.getText(marker));
    if (text === undefined) return undefined;
    const outcome = JSON.parse(text) as ObjectOutcome;
    return outcome.fingerprint === fingerprint ? outcome : undefined;
  }

  async putObject(key: string, outcome: ObjectOutcome): Promise<void> {
    const marker = `${this.prefix}objects/${id(key)}.json`;
    this.present.add(marker);
    const write = this.wrap("writing", this.bucket.putText(marker, JSON.stringify(outcome)));
    // Awaited by flush(); marked handled now so that a failure is reported there, not as an unhandled rejection.
    write.catch(() => undefined);
    this.writes.push(write);
  }

  async alerted(keys: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const limit = pLimit(16);
    await Promise.all(
      keys.map((k) =>
        limit(async () => {
          if (
            (await this.wrap("reading", this.bucket.getText(`${this.prefix}alerted/${id(k)}.json`))) !==
            undefined
          )
            out.add(k);
        }),
      ),
    );
    return out;
  }

  async markAlerted(keys: readonly string[], messageId: string): Promise<void> {
    const at = this.clock().toISOString();
    await Promise.all(
      keys.map((k) =>
        this.wrap(
          "writing",
          this.bucket.putText(
            `${this.prefix}alerted/${id(k)}.json`,
            JSON.stringify({ key: k, messageId, at }),
          ),
        ),
      ),
    );
  }

  async pending(): Promise<Alert[]> {
    const listed = await this.wrap("listing", this.bucket.listAll(`${this.prefix}pending/`));
    const texts = await Promise.all(listed.map((o) => this.wrap("reading", this.bucket.getText(o.key))));
    return texts.filter((t): t is string => t !== undefined).map((t) => JSON.parse(t) as Alert);
  }

  async setPending(alerts: readonly Alert[]): Promise<void> {
    const listed = await this.wrap("listing", this.bucket.listAll(`${this.prefix}pending/`));
    const wanted = new Map(
      alerts.map((a) => [
        `${this.prefix}pending/${id(JSON.stringify([a.traceId, a.object, a.time, a.sourceIp]))}.json`,
        a,
      ]),
    );
    await Promise.all([
      ...[...wanted]
        .filter(([k]) => !listed.some((o) => o.key === k))
        .map(([k, a]) => this.wrap("writing", this.bucket.putText(k, JSON.stringify(a)))),
      ...listed
        .filter((o) => !wanted.has(o.key))
        .map((o) => this.wrap("deleting", this.bucket.delete(o.key))),
    ]);
  }

  async flush(): Promise<void> {
    const writes = this.writes.splice(0);
    await Promise.all(writes);
  }
}
