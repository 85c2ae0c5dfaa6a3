import type { Writable } from "node:stream";
import { HtmlTally, type HtmlLimits } from "./HtmlTally.js";
import { htmlPage } from "./htmlPage.js";
import { StreamOut } from "./StreamOut.js";
import type { DigestRecord, FileRecord, GapRecord, ReportHeader, ReportTail, ReportWriter } from "./types.js";

/**
 * The report as one self-contained HTML page (`--format html`, DESIGN "Reports for people: HTML"): an integrity
 * calendar per chain, alert timelines and tops, the alert table, failed and skipped objects, the run's summary.
 * Records are tallied as they stream past (see {@link HtmlTally}); the page is written once the run is over, in
 * pieces, so a million-object run makes a page whose size follows its chain-hours and alerts, not its objects.
 */
export class HtmlWriter implements ReportWriter {
  private readonly out: StreamOut;
  private header: ReportHeader | undefined;
  /** What the writer keeps of the records (exposed for tests of its bounds). */
  readonly tally: HtmlTally;

  constructor(stream: Writable, limits?: HtmlLimits) {
    this.out = new StreamOut(stream);
    this.tally = new HtmlTally(limits);
  }

  async begin(header: ReportHeader): Promise<void> {
    this.header = header;
  }
  async file(record: FileRecord): Promise<void> {
    this.tally.file(record);
  }
  async digest(record: DigestRecord): Promise<void> {
    this.tally.digest(record);
  }
  async gap(record: GapRecord): Promise<void> {
    this.tally.gap(record);
  }
  async end(tail: ReportTail): Promise<void> {
    if (!this.header) throw new Error("HtmlWriter: begin() was not called");
    for (const piece of htmlPage(this.header, tail, this.tally)) await this.out.write(piece);
    await this.out.flush();
  }
}
