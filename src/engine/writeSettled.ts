import type { ReportWriter } from "../report/types.js";
import type { Settled } from "./ChainCarry.js";
import type { RunTally } from "./RunTally.js";
import type { WindowCarry } from "./WindowCarry.js";

/**
 * Hands settled records to the report writer (awaiting it: back-pressure) and to the run's tally. A file's
 * alerts take its final verdict here, and join the run's alerts; the windows learn the verdicts of files with
 * login attempts (their windowed alerts take them when the run's windows finish).
 */
export async function writeSettled(
  settled: Settled,
  writer: ReportWriter,
  tally: RunTally,
  windows?: Pick<WindowCarry, "verdict">,
): Promise<void> {
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
    // A replayed unit's slots carry no attempts (the windows had them from the unit's record): any may hold one.
    if (slot.attempts.length > 0 || slot.reused) windows?.verdict(slot.record.object, slot.record.integrity);
    tally.file(slot.record);
    tally.alerts(slot.alerts);
    await writer.file(slot.record);
  }
  const r = settled.replayed;
  if (r) {
    // As above, from what the unit's record keeps: its counts were taken when it was stored, its texts are written
    // as they are (a writer without fileText is given the record).
    tally.addFiles(r.counts, r.findings);
    for (let i = 0; i < r.size; i++) {
      const integrity = r.integrity(i);
      const alerts = r.alerts(i);
      if (alerts) {
        for (const alert of alerts) alert.integrity = integrity;
        tally.alerts(alerts);
      }
      windows?.verdict(r.object(i), integrity);
      await (writer.fileText ? writer.fileText(r.text(i)) : writer.file(r.record(i)));
    }
  }
  for (const m of settled.missing) {
    tally.file(m);
    await writer.file(m);
  }
}
