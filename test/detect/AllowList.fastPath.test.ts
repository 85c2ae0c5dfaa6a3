import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  parseIpAddress,
  parseIpAddressFully as referenceParse,
  type ParsedIp,
} from "../../src/detect/AllowList.js";

// parseIpAddress reads a canonical dotted quad in one pass before the full parser; over any text it must give what
// the full parser alone gives, address and problem alike (so the allowlist's verdicts, made on what it gives, are
// the full parser's).

const plain = (p: ParsedIp) =>
  p.ok ? { family: p.address.family, text: p.address.text, parts: p.address.value.parts } : p;

const octet = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map(String),
  fc.constantFrom("256", "999", "1000", "00", "01", "007", "0x1", "", "-1", "+1", "1e2", " 1", "١"),
);
const textArb = fc.oneof(
  fc.ipV4(),
  fc.ipV4Extended(),
  fc.ipV6(),
  fc.array(octet, { minLength: 1, maxLength: 6 }).map((parts) => parts.join(".")),
  fc.tuple(fc.ipV4(), fc.constantFrom(".", ":443", "/24", "%eth0", " ", "\n", "0")).map(([a, b]) => a + b),
  fc.tuple(fc.constantFrom(".", " ", "0", "[", "::ffff:"), fc.ipV4()).map(([a, b]) => a + b),
  fc.string({ unit: fc.constantFrom(..."0123456789.:af%/[] x"), maxLength: 18 }),
  fc.string({ maxLength: 20 }),
);

describe("parseIpAddress: the dotted-quad fast path against the full parser", () => {
  it("gives the same address or problem for any text", () => {
    fc.assert(
      fc.property(textArb, (text) => {
        expect(plain(parseIpAddress(text))).toEqual(plain(referenceParse(text)));
      }),
      { numRuns: 20_000, seed: 18 },
    );
  });

  it.each([
    "0.0.0.0",
    "255.255.255.255",
    "1.2.3.4",
    "10.0.0.01",
    "1.2.3",
    "1.2.3.4.",
    "1..2.3",
    "256.1.1.1",
    "1.2.3.4 ",
  ])("%j", (text) => {
    expect(plain(parseIpAddress(text))).toEqual(plain(referenceParse(text)));
  });
});
