import { createHash } from "node:crypto";
import type { RulesConfig } from "./RulesConfig.js";

/**
 * The identity of effective rules: equal settings give equal ids however they were written (defaults spelt out
 * or left out, key order). Origins are where, not what: they are left out.
 */
export function rulesHash(config: RulesConfig): string {
  const canonical = {
    allow: config.allow.map(({ origin: _origin, ...rest }) => rest),
    knownNetworks: config.knownNetworks,
    rules: Object.fromEntries(Object.entries(config.rules).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  return createHash("sha256").update(stableJson(canonical)).digest("hex").slice(0, 16);
}

// Hand-written rather than a canonical-JSON package: the value is plain data built above (no cycles, no
// undefined, no special numbers), so sorting keys at every level is all it takes; the identity test in
// test/detect/parseRules.test.ts checks that key order and spelt-out defaults do not change the hash.
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
