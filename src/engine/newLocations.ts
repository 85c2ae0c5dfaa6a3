import type { LoginAttempt } from "../detect/LoginAttempt.js";
import { NewLocationRules } from "../detect/NewLocationRules.js";
import { DEFAULT_RULES } from "../detect/RulesConfig.js";
import type { Alert } from "../detect/types.js";
import type { LedgerPolicy } from "./LedgerPolicy.js";
import { baselineStore } from "./baselineStore.js";
import type { EngineOptions } from "./types.js";

/**
 * The per-user location rules (`new-country`, `new-asn`; DESIGN "Detection") as an engine step, fed each unit's
 * login attempts as the unit settles (units come in time order, and NewLocationRules orders a unit's logins by
 * time), so baselines grow in time order with memory for one unit. Undefined when they cannot alert: outside
 * `scan`, with both rules off, without country data, or without a usable ledger (the baselines live there, and a
 * user with no history never alerts; not loading the data spares a run without a ledger its cost).
 */
export function newLocations(
  options: EngineOptions,
  ledger: LedgerPolicy,
): ((attempts: readonly LoginAttempt[]) => Promise<Alert[]>) | undefined {
  const config = options.rules ?? DEFAULT_RULES;
  const settings = { "new-country": config.rules["new-country"], "new-asn": config.rules["new-asn"] };
  if (options.command !== "scan" || !options.geo || !ledger.usable) return undefined;
  const rules = new NewLocationRules(options.geo, settings, config.knownNetworks, baselineStore(ledger));
  if (!rules.enabled) return undefined;
  return (attempts) => (attempts.length === 0 ? Promise.resolve([]) : rules.evaluate(attempts));
}
