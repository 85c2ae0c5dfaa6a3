import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TimeWindow } from "../../src/detect/TimeWindow.js";

describe("TimeWindow.count", () => {
  const bound = fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined });
  it("counts exactly the times contains() keeps, a trace without a time included", () => {
    fc.assert(
      fc.property(
        bound,
        bound,
        fc.array(fc.option(fc.integer({ min: -10, max: 1010 }), { nil: null })),
        (s, u, times) => {
          const w = new TimeWindow(
            s === undefined ? undefined : new Date(s),
            u === undefined ? undefined : new Date(u),
          );
          expect(w.count(times)).toBe(times.filter((t) => w.contains(t ?? undefined)).length);
        },
      ),
    );
  });

  it.each([
    ["no window", undefined, undefined, 4],
    ["since", 10, undefined, 3],
    ["until", undefined, 10, 2],
    ["both", 5, 20, 2],
  ])("%s", (_name, since, until, want) => {
    const w = new TimeWindow(
      since === undefined ? undefined : new Date(since),
      until === undefined ? undefined : new Date(until),
    );
    expect(w.count([1, 10, null, 30])).toBe(want);
  });
});
