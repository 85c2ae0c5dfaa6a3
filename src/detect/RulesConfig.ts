import type { RuleId, Severity } from "./types.js";

/** Whether a rule runs, and the severity of its alerts. */
export interface RuleSetting {
  enabled: boolean;
  severity: Severity;
}

/** Extra allowed addresses. Without `users`, `domains` and `userTypes` the entry is global. */
export interface AllowRule {
  cidrs: string[];
  /** User names (case-insensitive). */
  users: string[];
  /** Domain (account) names or ids (case-insensitive). */
  domains: string[];
  /** `domain owner`, `iam user`, ... as the login trace's `user_type` says (case-insensitive). */
  userTypes: string[];
  /** Where the entry was written (`rules.yaml: allow[1]`), for messages. */
  origin: string;
}

/** Networks never "new" for new-country/new-asn (issue 15): VPN egress and the like. */
export interface KnownNetwork {
  cidrs: string[];
  asns: number[];
}

/**
 * The effective, defaulted rule settings (DESIGN "Detection"; the rules file of `--rules` / `CTS_AUDIT_RULES`).
 * Windows are milliseconds.
 */
export interface RulesConfig {
  allow: AllowRule[];
  knownNetworks: KnownNetwork[];
  rules: {
    "ip-not-allowed": RuleSetting;
    "owner-login": RuleSetting;
    "login-without-mfa": RuleSetting;
    "audit-tamper": RuleSetting;
    "brute-force": RuleSetting & { threshold: number; ipThreshold: number; window: number };
    "password-spray": RuleSetting & { users: number; window: number };
    "failures-then-success": RuleSetting & { failures: number; window: number };
    "new-country": RuleSetting & { days: number; minHistoryDays: number };
    "new-asn": RuleSetting & { days: number; minHistoryDays: number };
  } & Record<RuleId, RuleSetting>;
}

const MINUTE = 60_000;

/** The rules without a rules file (DESIGN's table). */
export const DEFAULT_RULES: RulesConfig = {
  allow: [],
  knownNetworks: [],
  rules: {
    "ip-not-allowed": { enabled: true, severity: "high" },
    "owner-login": { enabled: true, severity: "medium" },
    "login-without-mfa": { enabled: true, severity: "medium" },
    "audit-tamper": { enabled: true, severity: "critical" },
    // IAM locks an account at 5 failures in 15 minutes by default: 4 is the last one it lets through.
    "brute-force": { enabled: true, severity: "high", threshold: 4, ipThreshold: 10, window: 15 * MINUTE },
    "password-spray": { enabled: true, severity: "high", users: 3, window: 60 * MINUTE },
    "failures-then-success": { enabled: true, severity: "critical", failures: 3, window: 60 * MINUTE },
    "new-country": { enabled: true, severity: "medium", days: 90, minHistoryDays: 14 },
    "new-asn": { enabled: true, severity: "medium", days: 90, minHistoryDays: 14 },
  },
};

/** Severities, lowest first: an order for sorting and for "at least". */
export const SEVERITY_ORDER: readonly Severity[] = ["low", "medium", "high", "critical"];

/** The higher of two severities. */
export function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_ORDER.indexOf(a) >= SEVERITY_ORDER.indexOf(b) ? a : b;
}
