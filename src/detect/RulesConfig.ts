import type { Severity } from "./types.js";

/*
 * Types and defaults only (windows-B's copy, identical in shape to the shared contract of issue 14): rules-A owns
 * the rules file, its loader and its validation, and replaces this file when the branches merge.
 */

/** Settings every rule has. */
export interface RuleSettings {
  enabled: boolean;
  severity: Severity;
}

/** The effective, defaulted settings of every rule (windows in milliseconds). */
export interface RulesConfig {
  rules: {
    "ip-not-allowed": RuleSettings;
    "owner-login": RuleSettings;
    "login-without-mfa": RuleSettings;
    "audit-tamper": RuleSettings;
    "brute-force": RuleSettings & { threshold: number; ipThreshold: number; window: number };
    "password-spray": RuleSettings & { users: number; window: number };
    "failures-then-success": RuleSettings & { failures: number; window: number };
    "new-country": RuleSettings & { days: number; minHistoryDays: number };
    "new-asn": RuleSettings & { days: number; minHistoryDays: number };
  };
}

const MINUTE = 60_000;

/** DESIGN "Detection": the defaults that apply without a rules file. */
export const DEFAULT_RULES: RulesConfig = {
  rules: {
    "ip-not-allowed": { enabled: true, severity: "high" },
    "owner-login": { enabled: true, severity: "medium" },
    "login-without-mfa": { enabled: true, severity: "medium" },
    "audit-tamper": { enabled: true, severity: "critical" },
    "brute-force": { enabled: true, severity: "high", threshold: 4, ipThreshold: 10, window: 15 * MINUTE },
    "password-spray": { enabled: true, severity: "high", users: 3, window: 60 * MINUTE },
    "failures-then-success": { enabled: true, severity: "critical", failures: 3, window: 60 * MINUTE },
    "new-country": { enabled: true, severity: "medium", days: 90, minHistoryDays: 14 },
    "new-asn": { enabled: true, severity: "medium", days: 90, minHistoryDays: 14 },
  },
};
