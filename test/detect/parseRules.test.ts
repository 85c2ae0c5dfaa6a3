import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseRules } from "../../src/detect/parseRules.js";
import { rulesHash } from "../../src/detect/rulesHash.js";
import { DEFAULT_RULES } from "../../src/detect/RulesConfig.js";
import { ConfigError } from "../../src/errors.js";

function problems(text: string): string[] {
  try {
    parseRules(text, "rules.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

describe("parseRules", () => {
  it("reads the example file: its values are the defaults, plus its allow entries", () => {
    const { config, warnings } = parseRules(
      readFileSync("fixtures/rules.example.yaml", "utf8"),
      "rules.example.yaml",
    );
    expect(warnings).toEqual([]);
    expect(config.rules).toEqual(DEFAULT_RULES.rules);
    expect(config.allow).toEqual([
      {
        cidrs: ["192.0.2.0/24", "2001:db8:cafe::/48"],
        users: [],
        domains: [],
        userTypes: [],
        origin: "rules.example.yaml: allow[0]",
      },
      {
        cidrs: ["198.51.100.7/32"],
        users: ["breakglass"],
        domains: [],
        userTypes: [],
        origin: "rules.example.yaml: allow[1]",
      },
      {
        cidrs: ["203.0.113.0/28"],
        users: [],
        domains: [],
        userTypes: ["domain owner"],
        origin: "rules.example.yaml: allow[2]",
      },
    ]);
    expect(config.knownNetworks).toEqual([{ cidrs: ["192.0.2.0/24"], asns: [64496] }]);
  });

  it("the README's rules file is the example file's (defaults and allow entries), so the two cannot drift", () => {
    const readme = readFileSync("README.md", "utf8");
    const section = readme.slice(readme.indexOf("## Detection rules"));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    expect(yaml).toBeDefined();
    const shown = parseRules(yaml!, "README").config;
    const example = parseRules(readFileSync("fixtures/rules.example.yaml", "utf8"), "README").config;
    expect(shown.rules).toEqual(DEFAULT_RULES.rules);
    expect(shown.allow.map(({ origin: _, ...e }) => e)).toEqual(
      example.allow.map(({ origin: _, ...e }) => e),
    );
    expect(shown.knownNetworks).toEqual(example.knownNetworks);
  });

  it.each([
    ["", DEFAULT_RULES.rules["brute-force"]],
    ["rules: {}", DEFAULT_RULES.rules["brute-force"]],
    [
      "rules:\n  brute-force: { threshold: 3, window: 10m }",
      { enabled: true, severity: "high", threshold: 3, ipThreshold: 10, window: 600_000 },
    ],
    [
      "rules:\n  brute-force: { enabled: false, severity: low, window: 2h }",
      { enabled: false, severity: "low", threshold: 4, ipThreshold: 10, window: 7_200_000 },
    ],
  ])("fills defaults around %j", (text, bruteForce) => {
    expect(parseRules(text, "r").config.rules["brute-force"]).toEqual(bruteForce);
  });

  it.each([
    [
      "rules:\n  brute-force: { threshold: many }",
      "rules.yaml: rules.brute-force.threshold: must be a number",
    ],
    [
      "rules:\n  brute-force: { threshold: 1 }",
      "rules.yaml: rules.brute-force.threshold: must be a whole number of at least 2",
    ],
    [
      "rules:\n  brute-force: { threshold: 2.5 }",
      "rules.yaml: rules.brute-force.threshold: must be a whole number",
    ],
    ["rules:\n  brute-force: { window: 15 }", "rules.yaml: rules.brute-force.window: must be text"],
    [
      "rules:\n  brute-force: { window: 15 minutes }",
      "rules.yaml: rules.brute-force.window: must be a duration such as 15m, 1h or 2d",
    ],
    [
      "rules:\n  password-spray: { users: 0 }",
      "rules.yaml: rules.password-spray.users: must be a whole number of at least 2",
    ],
    [
      "rules:\n  owner-login: { severity: severe }",
      "rules.yaml: rules.owner-login.severity: must be one of low, medium, high, critical",
    ],
    [
      "rules:\n  audit-tamper: { enabled: yes-please }",
      "rules.yaml: rules.audit-tamper.enabled: must be true or false",
    ],
    [
      "rules:\n  brute-force: { treshold: 3 }",
      "rules.yaml: rules.brute-force.treshold: unknown key: check its spelling",
    ],
    ["rules:\n  brute-forse: {}", "rules.yaml: rules.brute-forse: unknown key"],
    ["alow: []", "rules.yaml: alow: unknown key"],
    ["allow:\n  - cidrs: [192.0.2.0/24]\n    user: [bob]", "rules.yaml: allow[0].user: unknown key"],
    ["allow:\n  - users: [bob]", "rules.yaml: allow[0].cidrs: must be a list"],
    ["allow:\n  - cidrs: []", "rules.yaml: allow[0].cidrs: must list at least one entry"],
    [
      "allow:\n  - cidrs: [192.0.2.0/24]\n    users: []",
      "rules.yaml: allow[0].users: must list at least one entry",
    ],
    [
      "allow:\n  - cidrs: [192.0.2.0/24, 10.0.0.256]",
      'rules.yaml: allow[0].cidrs[1]: invalid allowlist entry "10.0.0.256"',
    ],
    [
      "knownNetworks:\n  - asns: [-1]",
      "rules.yaml: knownNetworks[0].asns[0]: must be a whole number of at least 0",
    ],
    ["rules: [1, 2]", "rules.yaml: rules: must be a mapping of keys"],
    ["- just\n- a list", "rules.yaml: (the whole file): must be a mapping of keys"],
    ["rules:\n  owner-login: {}\n  owner-login: {}", "rules.yaml: not valid YAML"],
    ["rules: {brute-force: {threshold: 3}", "rules.yaml: not valid YAML"],
    [
      'allow:\n  - cidrs: [""]',
      "rules.yaml: allow[0].cidrs[0]: must not be empty: give a value or remove it",
    ],
    [
      'allow:\n  - cidrs: [192.0.2.0/24]\n    users: [""]',
      "rules.yaml: allow[0].users[0]: must not be empty",
    ],
    [
      "rules:\n  password-spray: { users: 99999999999999999999 }",
      "rules.yaml: rules.password-spray.users: must be at most 9007199254740991: give a smaller number",
    ],
    // YAML 1.1 types are text here: one problem, not one for each of a Buffer's methods.
    ["rules: !!binary aGVsbG8=", "rules.yaml: rules: must be a mapping of keys"],
    ["allow: !!set {a, b}", "rules.yaml: allow: must be a list"],
    // An alias bomb ("billion laughs") is refused by name, with the fix.
    [
      Array.from({ length: 9 }, (_, i) =>
        i === 0
          ? "a0: &a0 [x,x,x,x,x,x,x,x,x,x]"
          : `a${i}: &a${i} [${Array(10)
              .fill(`*a${i - 1}`)
              .join(",")}]`,
      ).join("\n"),
      "rules.yaml: cannot be read: ",
    ],
  ])("names the bad key of %j", (text, expected) => {
    const found = problems(text);
    expect(found.length).toBeGreaterThan(0);
    expect(found.length).toBeLessThan(10);
    expect(found.some((p) => p.startsWith(expected))).toBe(true);
  });

  it("reports every problem at once", () => {
    const found = problems("rules:\n  brute-force: { threshold: 1, window: x }\n  bogus: {}\n");
    expect(found).toHaveLength(3);
  });

  it("warns, naming the key, about a CIDR with host bits set", () => {
    const { warnings } = parseRules("allow:\n  - cidrs: [10.0.0.1/8]", "rules.yaml");
    expect(warnings).toEqual([
      expect.stringMatching(/^rules\.yaml: allow\[0\]\.cidrs\[0\]: 10\.0\.0\.1\/8 has host bits set/),
    ]);
  });

  it("identifies the effective rules: defaults written out or left out, any key order, one id; any change, another", () => {
    const id = (text: string) => rulesHash(parseRules(text, "a").config);
    const base = id("");
    expect(id("rules:\n  brute-force: { threshold: 4, window: 15m }")).toBe(base);
    expect(id("rules:\n  brute-force: { window: 900s }")).toBe(base);
    expect(
      id(
        readFileSync("fixtures/rules.example.yaml", "utf8")
          .replace(/^allow:[\s\S]*?^knownNetworks/m, "knownNetworks")
          .replace(/^knownNetworks:[\s\S]*?^rules/m, "rules"),
      ),
    ).toBe(base);
    const changed = [
      "rules:\n  brute-force: { threshold: 5 }",
      "rules:\n  owner-login: { enabled: false }",
      "rules:\n  audit-tamper: { severity: high }",
      "allow:\n  - cidrs: [192.0.2.0/24]",
      "allow:\n  - cidrs: [192.0.2.0/24]\n    users: [bob]",
      "knownNetworks:\n  - asns: [64496]",
    ].map(id);
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1);
    // Where an entry was written is not what it says.
    expect(rulesHash(parseRules("allow:\n  - cidrs: [192.0.2.0/24]", "a").config)).toBe(
      rulesHash(parseRules("allow:\n  - cidrs: [192.0.2.0/24]", "b").config),
    );
  });
});
