import { existsSync } from "node:fs";
import { LocalLedger } from "../../src/state/LocalLedger.js";

/** How many completed objects a local ledger holds, read without the writer lock (a run may be writing it). */
export async function ledgerObjectCount(path: string): Promise<number> {
  if (!existsSync(path)) return 0;
  const ledger = new LocalLedger(path, { retentionMs: 90 * 864e5 });
  await ledger.open({
    holder: {
      run: "test",
      pid: process.pid,
      host: "test",
      startedAt: new Date().toISOString(),
      command: "count",
    },
    readOnly: true,
  });
  try {
    return await ledger.countObjects();
  } finally {
    await ledger.close();
  }
}
