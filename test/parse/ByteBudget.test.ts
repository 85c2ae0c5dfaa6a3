import { describe, expect, it } from "vitest";
import { ByteBudget } from "../../src/parse/ByteBudget.js";

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("ByteBudget", () => {
  it("grants at once what fits and holds back what does not, in order", async () => {
    const budget = new ByteBudget(100);
    const granted: string[] = [];
    await budget.acquire(60);
    void budget.acquire(50).then(() => granted.push("b"));
    void budget.acquire(10).then(() => granted.push("c"));
    await tick();
    // 10 would fit, but it waits behind 50: the first waiter is not starved by smaller ones.
    expect(granted).toEqual([]);
    expect(budget.inUse).toBe(60);
    budget.release(60);
    await tick();
    expect(granted).toEqual(["b", "c"]);
    expect(budget.inUse).toBe(60);
  });

  it("lets a request larger than the budget through alone", async () => {
    const budget = new ByteBudget(100);
    await budget.acquire(30);
    let done = false;
    void budget.acquire(500).then(() => (done = true));
    await tick();
    expect(done).toBe(false);
    budget.release(30);
    await tick();
    expect(done).toBe(true);
    expect(budget.inUse).toBe(500);
  });
});
