import { createHash } from "node:crypto";
import { field, normaliseTrace, type Trace } from "../cts/trace.js";
import type { AllowList } from "./AllowList.js";
import type { Alert } from "./types.js";

/** Default `--events`: the IAM trace names of a console login, a logout and a failed login. */
export const DEFAULT_EVENTS = ["login", "logout", "loginFailed"] as const;

/** The result of auditing one raw trace. */
export type AuditOutcome =
  | { matched: false }
  | { matched: true; trace: Trace; alert: Omit<Alert, "object" | "integrity" | "region"> | undefined };

/** Which traces are audited and which source IPs are allowed. */
export class AuditRules {
  /** Audited trace names, lower-case: the parser's prefilter. */
  readonly events: ReadonlySet<string>;

  constructor(
    events: readonly string[],
    readonly allowList: AllowList,
  ) {
    this.events = new Set(events.map((e) => e.toLowerCase()));
    this.id = createHash("sha256")
      .update(JSON.stringify([[...this.events].sort(), [...allowList.entries].sort()]))
      .digest("hex")
      .slice(0, 16);
  }

  /** Identifies the rules (events and allowlist): a stored outcome is reused only under the same rules. */
  readonly id: string;

  /**
   * Audits one raw trace. A trace is audited when its `trace_name` is one of the events (case-insensitive:
   * `loginFailed` and `loginfailed` both occur) and its `service_type` is IAM when present. It alerts when its
   * source IP is not allowlisted, empty or unparsable. The time window is the engine's: outcomes stay reusable.
   */
  audit(raw: Record<string, unknown>): AuditOutcome {
    // Cheap checks on the raw fields first: most traces of a file are not audited and need no normalising.
    const name = field(raw, "trace_name");
    if (typeof name !== "string" || !this.events.has(name.toLowerCase())) return { matched: false };
    // Only another service's name rules a trace out. A service_type that is no string (an object, a number) is
    // malformed, not another service: the login is audited (String() of such a value can also throw).
    const service = field(raw, "service_type");
    if (typeof service === "string" && service !== "" && service.toUpperCase() !== "IAM") {
      return { matched: false };
    }
    const trace = normaliseTrace(raw);
    // Judged as CTS recorded it: the report shows the trimmed address, but a padded one is an odd spelling, which
    // is never silently allowed (AllowList.assess); a blank one is "missing".
    const recorded = field(raw, "source_ip");
    const verdict = this.allowList.check(typeof recorded === "string" ? recorded : trace.sourceIp);
    if (verdict === "allowed") return { matched: true, trace, alert: undefined };
    return {
      matched: true,
      trace,
      alert: {
        traceId: trace.traceId,
        traceName: trace.traceName,
        user: trace.user.name,
        userId: trace.user.id,
        domain: trace.user.domain,
        sourceIp: trace.sourceIp,
        time: trace.time === undefined ? "" : new Date(trace.time).toISOString(),
        reason: verdict,
      },
    };
  }
}
