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

describe("ByteBudget.tryAcquire", () => {
  it("takes what fits at once, and refuses while the budget is spent or others wait", async () => {
    const budget = new ByteBudget(100);
    expect(budget.tryAcquire(70)).toBe(true);
    expect(budget.inUse).toBe(70);
    expect(budget.tryAcquire(40)).toBe(false);
    expect(budget.inUse).toBe(70);
    let granted = false;
    void budget.acquire(40).then(() => (granted = true));
    // 10 fits, but 40 waits first: a try does not overtake a waiter.
    expect(budget.tryAcquire(10)).toBe(false);
    budget.release(70);
    await tick();
    expect(granted).toBe(true);
    expect(budget.tryAcquire(60)).toBe(true);
    expect(budget.inUse).toBe(100);
  });
});
