import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_FIELD_CHARS, normaliseTrace } from "../../src/cts/trace.js";

/**
 * An independent reading of `user` (reference §2): a JSON text or an object; name from `name` else `user_name`, id
 * from `id` else `principal_id`, the domain's name and id (else `account_id`); strings, numbers and booleans as
 * written, cut past MAX_FIELD_CHARS; a text that is no JSON is the name.
 */
function referenceUser(value: unknown): { name: string; id: string; domain: string; domainId: string } {
  const text = (v: unknown): string => {
    const s = typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? `${v}` : "";
    return s.length > MAX_FIELD_CHARS ? `${s.slice(0, MAX_FIELD_CHARS)}…(${s.length} chars)` : s;
  };
  const own = (o: unknown, k: string): unknown =>
    o !== null && typeof o === "object" && Object.prototype.hasOwnProperty.call(o, k)
      ? (o as Record<string, unknown>)[k]
      : undefined;
  let obj = value;
  if (typeof value === "string") {
    try {
      obj = JSON.parse(value);
    } catch {
      return { name: text(value), id: "", domain: "", domainId: "" };
    }
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj))
    return { name: text(obj), id: "", domain: "", domainId: "" };
  const domain = own(obj, "domain");
  return {
    name: text(own(obj, "name")) || text(own(obj, "user_name")),
    id: text(own(obj, "id")) || text(own(obj, "principal_id")),
    domain: text(own(domain, "name")),
    domainId: text(own(domain, "id")) || text(own(obj, "account_id")),
  };
}

const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null));
const userObject = fc.record(
  {
    name: scalar,
    user_name: scalar,
    id: scalar,
    principal_id: scalar,
    account_id: scalar,
    domain: fc.oneof(fc.record({ name: scalar, id: scalar }, { requiredKeys: [] }), scalar),
  },
  { requiredKeys: [] },
);
/** User values as traces carry them: JSON texts (most), objects, bare names, long and malformed texts. */
const userValue = fc.oneof(
  { weight: 6, arbitrary: userObject.map((u) => JSON.stringify(u)) },
  { weight: 2, arbitrary: userObject },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1000, maxLength: 1100 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('{"name":', "[1,2]", "null", '"bob"', "42", `{"name":"${"x".repeat(2000)}"}`),
  },
);

describe("normaliseTrace's user, read once per distinct text", () => {
  it("agrees with an independent reading over sequences that repeat users", () => {
    fc.assert(
      fc.property(
        fc.array(userValue, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        (pool, picks) => {
          for (const pick of picks) {
            const value = pool[pick % pool.length];
            expect({ ...normaliseTrace({ user: value }).user }).toEqual(referenceUser(value));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stays right past its capacity: more distinct users than it holds, then the first ones again", () => {
    const texts = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({ name: `user-${i}`, id: `id-${i}`, domain: { name: "acme", id: `d-${i % 7}` } }),
    );
    for (const round of [0, 1])
      for (const [i, text] of texts.entries())
        expect(normaliseTrace({ user: text }).user, `round ${round}, user ${i}`).toEqual({
          name: `user-${i}`,
          id: `id-${i}`,
          domain: "acme",
          domainId: `d-${i % 7}`,
        });
  });

  it("hands out users no trace can change for another: a shared user is frozen", () => {
    const text = '{"name":"alice","id":"u1","domain":{"name":"acme","id":"d1"}}';
    const first = normaliseTrace({ user: text }).user;
    expect(() => {
      (first as { name: string }).name = "mallory";
    }).toThrow(TypeError);
    expect(normaliseTrace({ user: text }).user.name).toBe("alice");
  });
});
