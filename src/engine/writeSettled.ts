import type { ReportWriter } from "../report/types.js";
import type { Settled } from "./ChainCarry.js";
import type { RunTally } from "./RunTally.js";

/**
 * Hands settled records to the report writer (awaiting it: back-pressure) and to the run's tally. A file's
 * alerts take its final verdict here, and join the run's alerts.
 */
export async function writeSettled(settled: Settled, writer: ReportWriter, tally: RunTally): Promise<void> {
  for (const d of settled.digests) {
    tally.digest(d);
    await writer.digest(d);
  }
  for (const g of settled.gaps) {
    tally.gap(g);
    await writer.gap(g);
  }
  for (const slot of settled.files) {
    for (const alert of slot.alerts) alert.integrity = slot.record.integrity;
    tally.file(slot.record);
    tally.alerts(slot.alerts);
    await writer.file(slot.record);
  }
  for (const m of settled.missing) {
    tally.file(m);
    await writer.file(m);
  }
}
