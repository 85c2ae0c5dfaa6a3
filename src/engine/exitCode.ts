import type { ReportTail } from "../report/types.js";
import type { EngineOptions } from "./types.js";

/**
 * The exit code a run asks for (DESIGN "Command-line contract"): 3 for integrity violations under `require`,
 * then 1 for objects that failed, a notification that failed or a run error, else 0. (2, usage, comes before any
 * run; 130/143, a signal, is the entry point's.)
 */
export function exitCode(
  tail: Pick<ReportTail, "summary" | "notifications" | "errors">,
  options: Pick<EngineOptions, "verify" | "dryRun">,
): 0 | 1 | 3 {
  if (options.verify === "require" && tail.summary.integrityViolations > 0) return 3;
  const notifyFailed = tail.notifications.some((n) => n.error && !options.dryRun);
  if (tail.summary.failed > 0 || notifyFailed || tail.errors.length > 0) return 1;
  return 0;
}
