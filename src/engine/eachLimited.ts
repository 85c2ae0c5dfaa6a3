/**
 * Calls `task` for indexes 0..count-1 in order, at most `concurrency` at a time. Hand-written rather than p-limit:
 * a few runners each take the next index, with no promise or closure a task. In a scan of thousands of small
 * files, p-limit's per-task machinery (four promises and a queue item each) showed up as a cost of its own.
 */
export async function eachLimited(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  /** Called once every index has been handed to a runner (at the end when there are none). */
  onDispatched?: () => void,
): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < count) {
      const index = next++;
      if (next === count) onDispatched?.();
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, runner));
  if (count === 0) onDispatched?.();
}
