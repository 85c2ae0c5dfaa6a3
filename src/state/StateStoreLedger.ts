import type { Alert } from "../detect/types.js";
import { alertKey } from "./alertKey.js";
import type { Ledger, ObjectOutcome, StateStore } from "./types.js";

/** TEMPORARY bridge from the old whole-run state stores to the Ledger port, until the new ledgers land. */
export class StateStoreLedger implements Ledger {
  constructor(private readonly store: StateStore) {}
  get location(): string {
    return this.store.location;
  }
  async open(): Promise<void> {
    await this.store.open();
  }
  async getObjects(_unit: string, items: ReadonlyArray<{ key: string; fingerprint: string }>) {
    const out = new Map<string, ObjectOutcome>();
    for (const i of items) {
      const o = await this.store.getObject(i.key, i.fingerprint);
      if (o) out.set(i.key, o);
    }
    return out;
  }
  async putObjects(_unit: string, outcomes: ReadonlyArray<readonly [string, ObjectOutcome]>) {
    for (const [k, o] of outcomes) await this.store.putObject(k, o);
    await this.store.flush();
  }
  async sent(sink: string, keys: readonly string[]) {
    const got = await this.store.alerted(keys.map((k) => `${sink}|${k}`));
    return new Set([...got].map((k) => k.slice(sink.length + 1)));
  }
  async markSent(sink: string, keys: readonly string[], messageId: string) {
    await this.store.markAlerted(
      keys.map((k) => `${sink}|${k}`),
      messageId,
    );
  }
  async pending(_sink: string): Promise<Alert[]> {
    return this.store.pending();
  }
  async addPending(_sink: string, alerts: readonly Alert[]) {
    const have = await this.store.pending();
    await this.store.setPending([...have, ...alerts]);
  }
  async removePending(_sink: string, keys: readonly string[]) {
    const drop = new Set(keys);
    await this.store.setPending((await this.store.pending()).filter((a) => !drop.has(alertKey(a))));
  }
  async close() {
    await this.store.flush();
  }
}
