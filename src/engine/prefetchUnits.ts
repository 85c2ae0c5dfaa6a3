/** A unit with its preparation under way. */
export interface Prefetched<U, P> {
  unit: U;
  /** Undefined when not reading ahead: the consumer prepares the unit itself, if it needs to (a replay does not). */
  prepared: Promise<P> | undefined;
}

/**
 * The units of a listing, each handed over with its preparation (`prepare`: the unit's digests) already started,
 * one unit ahead: while the consumer works on unit N, the listing of unit N+1 is read and its preparation runs.
 * Units are handed over in listing order, one at a time; the consumer settles them in that order. Only the next
 * unit is held besides the current one.
 */
export async function* prefetchUnits<U, P>(
  units: AsyncIterable<U>,
  prepare: (unit: U) => Promise<P>,
  /** False: each unit's listing and preparation only when the consumer asks for it (one unit after another). */
  ahead = true,
): AsyncGenerator<Prefetched<U, P>> {
  if (!ahead) {
    for await (const unit of units) yield { unit, prepared: undefined };
    return;
  }
  const iterator = units[Symbol.asyncIterator]();
  const pull = (): Promise<Prefetched<U, P> | undefined> =>
    iterator.next().then((r) => {
      if (r.done) return undefined;
      const prepared = prepare(r.value);
      // Awaited by the consumer when it reaches the unit; until then a failure must not count as unhandled.
      prepared.catch(() => undefined);
      return { unit: r.value, prepared };
    });
  let current = await pull();
  try {
    while (current) {
      const following = pull();
      following.catch(() => undefined);
      yield current;
      current = await following;
    }
  } finally {
    // The consumer stopped early (an error): the listing ends after the page it is on, without holding it up.
    iterator.return?.().catch(() => undefined);
  }
}
