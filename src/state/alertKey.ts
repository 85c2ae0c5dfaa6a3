import { createHash } from "node:crypto";
import type { Alert } from "../detect/types.js";

/**
 * The identity of an alert for dedupe, per rule instance. A windowed rule's alert is `<rule>:<group>:<window id>`
 * (one per group and window, whichever trace completed it in a given run). A per-trace alert is its trace ID, or,
 * for a trace without one, a hash of what makes it that trace (never empty, so two ID-less traces are not taken for
 * one). `ip-not-allowed` (and an alert from before rules had ids) keeps the plain key, so an old ledger does not
 * send it again; the other per-trace rules prefix theirs (`owner-login:<traceId>`): one trace may raise several
 * alerts.
 */
export function alertKey(
  alert: Pick<Alert, "traceId" | "traceName" | "sourceIp" | "time" | "user" | "object" | "rule"> &
    Partial<Pick<Alert, "evidence">>,
): string {
  const ev = alert.evidence;
  if (alert.rule && ev?.group !== undefined && ev.windowId !== undefined)
    return `${alert.rule}:${ev.group}:${ev.windowId}`;
  let key = alert.traceId;
  if (!key) {
    const h = createHash("sha256")
      .update(JSON.stringify([alert.traceName, alert.sourceIp, alert.time, alert.user, alert.object]))
      .digest("hex");
    key = `noid:${h.slice(0, 32)}`;
  }
  return alert.rule === undefined || alert.rule === "ip-not-allowed" ? key : `${alert.rule}:${key}`;
}
