import type { NotificationRecord } from "../report/types.js";

/** The one message a run sends: a headline, the full text split into parts, and a short SMS form. */
export interface AlertDigest {
  /** At most 512 bytes (SMN's subject limit). */
  subject: string;
  headline: string;
  /** The full text, split into numbered parts each within the sink's size limit; nothing dropped. */
  parts: string[];
  /** Under 490 characters: the headline and the top source IPs. */
  sms: string;
  alerts: number;
  violations: number;
}

/** Where the alert digest goes. */
export interface Notifier {
  /** `stdout`, `file`, `smn`. */
  readonly sink: string;
  /**
   * Where exactly it sends (`file:/abs/path`, `smn:<topic>`), when one sink kind has several places: the ledger
   * records sent alerts per target. Defaults to `sink`.
   */
  readonly target?: string;
  /** Sends the digest. Throws a NotifyError when it finally fails (after the sink's own retries). */
  send(digest: AlertDigest): Promise<NotificationRecord>;
}
