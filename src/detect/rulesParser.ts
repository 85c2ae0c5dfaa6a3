import type { ParsedRules } from "./parseRules.js";

/**
 * The rules-file parser, loaded only for a run that has a rules file: it brings `yaml` and `zod`: an empty scan
 * started in 0.16 s with them and starts in 0.08 s without (a FunctionGraph cold start paid them too), and they
 * kept 4 MB of heap to the end, which the garbage collector's headroom multiplies in the peak. Entry points call
 * {@link loadRulesParser} when a rules file is configured, before the configuration is read.
 */
let parser: ((text: string, origin: string) => ParsedRules) | undefined;

/** Loads the parser (once; later calls return at once). */
export async function loadRulesParser(): Promise<void> {
  parser ??= (await import("./parseRules.js")).parseRules;
}

/** `parseRules`, loaded by {@link loadRulesParser}: see there. */
export function parseRulesText(text: string, origin: string): ParsedRules {
  if (!parser) throw new Error("internal error: a rules file is read before loadRulesParser() was awaited");
  return parser(text, origin);
}
