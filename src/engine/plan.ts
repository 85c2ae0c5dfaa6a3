import type { CtsObjectKey } from "../cts/objectKey.js";
import { parsedServices } from "../detect/AuditRules.js";
import type { SourceObject } from "../sources/types.js";
import type { EngineOptions } from "./types.js";

/** How the run treats one listed object. */
export type Plan =
  | { action: "parse" }
  | { action: "hash"; reason: string }
  | { action: "digest" }
  | { action: "skip"; reason: string };

// A trace reaches OBS minutes after it happened: files uploaded up to this long after --until may still hold it.
export const UPLOAD_GRACE_MS = 60 * 60 * 1000;

/** Whether a time is inside the run's window, with `graceAfter` ms of slack after `until`. No time: inside. */
export function inWindow(
  options: Pick<EngineOptions, "since" | "until">,
  time: Date | undefined,
  graceAfter: number,
): boolean {
  if (!time) return true;
  if (options.since && time.getTime() < options.since.getTime()) return false;
  if (options.until && time.getTime() > options.until.getTime() + graceAfter) return false;
  return true;
}

/**
 * What a run does with one listed object: parse it (the service folders a rule needs: IAM, and CTS for
 * audit-tamper), hash it without parsing (other services' files, `verify`), read it as a digest, or skip it with
 * a reason (not a CTS file, outside the window).
 */
export function planObject(options: EngineOptions, object: SourceObject, key: CtsObjectKey): Plan {
  const verifyOn = options.verify !== "off";
  if (object.unreadable) return { action: "skip", reason: object.unreadable };
  if (object.explicit) {
    if (key.kind === "digest")
      return verifyOn
        ? { action: "digest" }
        : { action: "skip", reason: "integrity verification is off (--verify off)" };
    return options.command === "verify" ? { action: "hash", reason: "" } : { action: "parse" };
  }
  if (key.kind === "other") return { action: "skip", reason: key.reason };
  if (key.kind === "digest") {
    if (!verifyOn) return { action: "skip", reason: "integrity verification is off (--verify off)" };
    // A digest is needed when the hour it covers (the hour before its upload) touches the window.
    const up = key.uploadTime?.getTime();
    if (
      up !== undefined &&
      ((options.since && up + UPLOAD_GRACE_MS < options.since.getTime()) ||
        !inWindow(options, key.uploadTime, 2 * UPLOAD_GRACE_MS))
    ) {
      return { action: "skip", reason: "digest outside the --since/--until window" };
    }
    return { action: "digest" };
  }
  if (!inWindow(options, key.uploadTime, UPLOAD_GRACE_MS))
    return { action: "skip", reason: "uploaded outside the --since/--until window" };
  if (options.command === "verify") return { action: "hash", reason: "verify reads no traces" };
  if (key.service !== "" && !parsedServices(options.rules).has(key.service.toUpperCase())) {
    return { action: "hash", reason: `service folder ${key.service} holds no traces the rules read` };
  }
  return { action: "parse" };
}
