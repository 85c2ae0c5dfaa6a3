import { NotifyError, describeError } from "../errors.js";
import type { NotificationRecord } from "../report/types.js";
import { safeLine, safeMultiline } from "../safeText.js";
import type { SmnClient } from "./SmnClient.js";
import type { AlertDigest, Notifier } from "./types.js";

/** Which topic to publish to: a URN, or a name resolved by listing topics. */
export type TopicRef = { urn: string } | { name: string };

function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = text;
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, -1);
  return `${out}...`;
}

/**
 * Publishes the digest to an SMN topic: one message per part (one message in all unless the digest is over
 * 256 KB), each with `message_structure` carrying the full text for `default` and `email` and a short `sms` body.
 */
export class SmnNotifier implements Notifier {
  readonly sink = "smn";
  private urn: string | undefined;

  constructor(
    private readonly client: SmnClient,
    private readonly topic: TopicRef,
  ) {
    if ("urn" in topic) this.urn = topic.urn;
  }

  async send(digest: AlertDigest): Promise<NotificationRecord> {
    this.urn ??= await this.client.resolveTopicUrn((this.topic as { name: string }).name);
    const messageIds: string[] = [];
    const n = digest.parts.length;
    for (const [i, part] of digest.parts.entries()) {
      const suffix = n > 1 ? ` (${i + 1}/${n})` : "";
      // Made safe here too, whoever built the digest: subject and SMS are one line each, the parts keep their
      // own line breaks only.
      const subject = truncateBytes(safeLine(digest.subject), 512 - Buffer.byteLength(suffix)) + suffix;
      const body = safeMultiline(part);
      // SMS subscribers get the short form once, not every part of a long digest.
      const sms = i === 0 ? safeLine(digest.sms) : `cts-audit digest part ${i + 1}/${n}: see the e-mail`;
      try {
        const { messageId } = await this.client.publish(this.urn, {
          subject,
          message_structure: JSON.stringify({ default: body, email: body, sms }),
        });
        messageIds.push(messageId);
      } catch (err) {
        throw new NotifyError(
          "SMN_PUBLISH",
          `publishing part ${i + 1}/${n} of the digest to ${safeLine(this.urn)} failed${messageIds.length ? ` after ${messageIds.length} part(s) were sent` : ""}: ${describeError(err)}`,
          { cause: err },
        );
      }
    }
    return { sink: "smn", parts: n, messageIds };
  }
}
