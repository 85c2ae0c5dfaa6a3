import { createHash } from "node:crypto";
import type { Alert } from "../detect/types.js";

/**
 * The identity of an alert for dedupe: `<rule>:<group>:<window id>` for a windowed rule's alert; else its trace ID, or, for a trace without one, a hash of what makes it that
 * trace (never empty, so two ID-less traces are not taken for one).
 */
export function alertKey(
  alert: Pick<Alert, "traceId" | "traceName" | "sourceIp" | "time" | "user" | "object"> &
    Partial<Pick<Alert, "rule" | "evidence">>,
): string {
  // A windowed rule's alert is one per group and window, whichever trace completed it in a given run.
  const ev = alert.evidence;
  if (alert.rule && ev?.group !== undefined && ev.windowId !== undefined)
    return `${alert.rule}:${ev.group}:${ev.windowId}`;
  if (alert.traceId) return alert.traceId;
  const h = createHash("sha256")
    .update(JSON.stringify([alert.traceName, alert.sourceIp, alert.time, alert.user, alert.object]))
    .digest("hex");
  return `noid:${h.slice(0, 32)}`;
}
