import { parseDocument } from "yaml";
import { z } from "zod";
import { ConfigError, describeError } from "../errors.js";
import { AllowList } from "./AllowList.js";
import { DEFAULT_RULES, type AllowRule, type RulesConfig } from "./RulesConfig.js";

// zod rather than ajv: the schema is also the TypeScript type (no second declaration to drift), strictObject
// rejects unknown keys at every level, and each issue carries the path of the bad key for the message. It has no
// dependencies and is well kept (MIT). The `yaml` package parses (MIT, no dependencies, YAML 1.2, duplicate keys
// are errors).

const SEVERITY = z.enum(["low", "medium", "high", "critical"]);
const DURATION = z
  .string()
  .regex(/^[1-9][0-9]*(s|m|h|d)$/, { message: "must be a duration such as 15m, 1h or 2d" });
const COUNT = (min: number) => z.int().min(min, { message: `must be a whole number of at least ${min}` });
const NAMES = z.array(z.string().min(1)).min(1);

const base = { enabled: z.boolean().optional(), severity: SEVERITY.optional() };
const plain = z.strictObject(base);
const history = z.strictObject({ ...base, days: COUNT(1).optional(), minHistoryDays: COUNT(0).optional() });

const SCHEMA = z.strictObject({
  allow: z
    .array(
      z.strictObject({
        cidrs: z.array(z.string().trim().min(1)).min(1),
        users: NAMES.optional(),
        domains: NAMES.optional(),
        userTypes: NAMES.optional(),
      }),
    )
    .optional(),
  knownNetworks: z
    .array(z.strictObject({ cidrs: z.array(z.string()).optional(), asns: z.array(COUNT(0)).optional() }))
    .optional(),
  rules: z
    .strictObject({
      "ip-not-allowed": plain.optional(),
      "owner-login": plain.optional(),
      "login-without-mfa": plain.optional(),
      "audit-tamper": plain.optional(),
      "brute-force": z
        .strictObject({
          ...base,
          threshold: COUNT(2).optional(),
          ipThreshold: COUNT(2).optional(),
          window: DURATION.optional(),
        })
        .optional(),
      "password-spray": z
        .strictObject({ ...base, users: COUNT(2).optional(), window: DURATION.optional() })
        .optional(),
      "failures-then-success": z
        .strictObject({ ...base, failures: COUNT(1).optional(), window: DURATION.optional() })
        .optional(),
      "new-country": history.optional(),
      "new-asn": history.optional(),
    })
    .optional(),
});

type RulesFile = z.infer<typeof SCHEMA>;

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function durationMs(text: string): number {
  const unit = text.slice(-1) as keyof typeof UNIT_MS;
  return Number(text.slice(0, -1)) * UNIT_MS[unit];
}

/** `rules.brute-force.threshold`, `allow[0].cidrs`: the path a person finds in the file. */
function keyPath(path: ReadonlyArray<PropertyKey>): string {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : `${out ? "." : ""}${String(p)}`;
  return out || "(the whole file)";
}

const TYPE_TEXT: Record<string, string> = {
  number: "a number",
  int: "a whole number",
  string: "text",
  boolean: "true or false",
  array: "a list ([a, b] or one `- item` a line)",
  object: "a mapping of keys (key: value)",
};

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map(
      (k) =>
        `${keyPath([...issue.path, k])}: unknown key: check its spelling (README "Detection rules" lists every key) or remove it`,
    );
  }
  let fix = issue.message;
  if (issue.code === "invalid_type") fix = `must be ${TYPE_TEXT[issue.expected] ?? issue.expected}`;
  if (issue.code === "invalid_value") fix = `must be one of ${issue.values.map(String).join(", ")}`;
  if (issue.code === "too_small" && issue.origin === "array") fix = "must list at least one entry";
  if (issue.code === "too_small" && issue.origin === "string")
    fix = "must not be empty: give a value or remove it";
  if (issue.code === "too_big" && typeof issue.maximum === "number")
    fix = `must be at most ${issue.maximum}: give a smaller number`;
  return [`${keyPath(issue.path)}: ${fix}`];
}

/** What {@link parseRules} found: the effective rules, their identity, and warnings for a person. */
export interface ParsedRules {
  config: RulesConfig;
  warnings: string[];
}

/**
 * Parses and validates a rules file (YAML, DESIGN "Detection"), filling in DEFAULT_RULES for what it leaves out.
 * Every problem is thrown at once in one ConfigError (exit 2), each naming `origin` (the file, or the variable
 * that named it), the path of the bad key (`rules.brute-force.threshold`) and the fix. Unknown keys are errors:
 * a misspelt threshold silently left at its default would hide the mistake.
 */
export function parseRules(text: string, origin: string): ParsedRules {
  // resolveKnownTags off: `!!binary`, `!!set` and the other YAML 1.1 types are plain scalars, not Buffers or Sets
  // that the schema would then report key by key.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true, resolveKnownTags: false });
  const at = (p: string) => `${origin}: ${p}`;
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => at(`not valid YAML: ${e.message.split("\n")[0]}: fix the file's syntax`)),
    );
  }
  let value: unknown;
  try {
    // Aliases are expanded here, and the yaml library refuses one that would blow up (a "billion laughs" file).
    value = doc.toJS() ?? {};
  } catch (err) {
    throw new ConfigError(
      [
        at(
          `cannot be read: ${describeError(err)}: write the values out instead of repeating them through YAML aliases (*name)`,
        ),
      ],
      { cause: err },
    );
  }
  const checked = SCHEMA.safeParse(value);
  if (!checked.success) throw new ConfigError(checked.error.issues.flatMap(describeIssue).map(at));
  const file: RulesFile = checked.data;

  const problems: string[] = [];
  const warnings: string[] = [];
  const cidrsOk = (cidrs: readonly string[], where: string) => {
    try {
      warnings.push(
        ...AllowList.parse(cidrs.map((value, i) => ({ value, origin: at(`${where}[${i}]`) }))).warnings,
      );
    } catch (err) {
      problems.push(...(err instanceof ConfigError ? err.problems : [String(err)]));
    }
  };
  const allow: AllowRule[] = (file.allow ?? []).map((entry, i) => {
    cidrsOk(entry.cidrs, `allow[${i}].cidrs`);
    return {
      cidrs: entry.cidrs,
      users: entry.users ?? [],
      domains: entry.domains ?? [],
      userTypes: entry.userTypes ?? [],
      origin: at(`allow[${i}]`),
    };
  });
  const knownNetworks = (file.knownNetworks ?? []).map((n, i) => {
    cidrsOk(n.cidrs ?? [], `knownNetworks[${i}].cidrs`);
    return { cidrs: n.cidrs ?? [], asns: n.asns ?? [] };
  });
  if (problems.length > 0) throw new ConfigError(problems);

  const r = file.rules ?? {};
  const d = DEFAULT_RULES.rules;
  const win = (w: string | undefined, fallback: number) => (w === undefined ? fallback : durationMs(w));
  const config: RulesConfig = {
    allow,
    knownNetworks,
    rules: {
      "ip-not-allowed": { ...d["ip-not-allowed"], ...r["ip-not-allowed"] },
      "owner-login": { ...d["owner-login"], ...r["owner-login"] },
      "login-without-mfa": { ...d["login-without-mfa"], ...r["login-without-mfa"] },
      "audit-tamper": { ...d["audit-tamper"], ...r["audit-tamper"] },
      "brute-force": {
        ...d["brute-force"],
        ...r["brute-force"],
        window: win(r["brute-force"]?.window, d["brute-force"].window),
      },
      "password-spray": {
        ...d["password-spray"],
        ...r["password-spray"],
        window: win(r["password-spray"]?.window, d["password-spray"].window),
      },
      "failures-then-success": {
        ...d["failures-then-success"],
        ...r["failures-then-success"],
        window: win(r["failures-then-success"]?.window, d["failures-then-success"].window),
      },
      "new-country": { ...d["new-country"], ...r["new-country"] },
      "new-asn": { ...d["new-asn"], ...r["new-asn"] },
    },
  };
  return { config, warnings };
}
