/** One page of a listing and the marker of the next (undefined: the last page). */
export interface ListedPage<T> {
  objects: T[];
  next?: string;
}

/** How far the listing of later prefixes runs ahead of the reader. */
export interface ParallelListingOptions {
  /** Prefixes listed at once (the one being read included). */
  concurrency: number;
  /** Pages a prefix not yet being read may hold before its listing waits: bounds memory whatever a folder holds. */
  bufferedPages: number;
}

/** One prefix's listing: the pages it has fetched and not yet handed over. */
interface Lane<T> {
  pages: T[][];
  done: boolean;
  failed: boolean;
  error: unknown;
  /** The reader waits for a page or the end. */
  onPage?: () => void;
  /** The lister waits for the reader to take pages. */
  onTaken?: () => void;
}

/**
 * The listings of several prefixes, page by page, in the order of the prefixes, with up to `concurrency`
 * prefixes listed at once. Each prefix's pages follow one another (the marker of one page asks for the next); the
 * prefixes do not depend on each other, so a window's day folders are listed side by side while the reader is
 * still on the first. A prefix's failure is thrown when the reader reaches it, as a listing one after another
 * would; when the reader stops early, the listings stop after the page they are fetching.
 *
 * Hand-written rather than a queue library: the order of the output, the per-prefix back-pressure and the
 * failure placement are the whole of it (see test/sources/listInParallel.test.ts, which checks it against the
 * listings one after another).
 */
export async function* listInParallel<T>(
  prefixes: readonly string[],
  listPage: (prefix: string, marker: string | undefined) => Promise<ListedPage<T>>,
  options: ParallelListingOptions,
): AsyncGenerator<T[]> {
  const lanes: Array<Lane<T> | undefined> = new Array<Lane<T> | undefined>(prefixes.length);
  let reading = 0;
  let stopped = false;

  const list = async (index: number, lane: Lane<T>) => {
    const prefix = prefixes[index]!;
    let marker: string | undefined;
    try {
      do {
        // Ahead of the reader, a lane holds a few pages at most; the lane being read never waits.
        while (!stopped && index !== reading && lane.pages.length >= options.bufferedPages)
          await new Promise<void>((resolve) => (lane.onTaken = resolve));
        if (stopped) return;
        const page = await listPage(prefix, marker);
        if (page.objects.length) lane.pages.push(page.objects);
        marker = page.next;
        lane.onPage?.();
      } while (marker);
    } catch (err) {
      lane.failed = true;
      lane.error = err;
    }
    lane.done = true;
    lane.onPage?.();
  };

  // Starts listings up to `concurrency` prefixes from the one being read.
  let started = 0;
  const startMore = () => {
    while (started < prefixes.length && started < reading + options.concurrency) {
      const lane: Lane<T> = { pages: [], done: false, failed: false, error: undefined };
      lanes[started] = lane;
      void list(started, lane);
      started++;
    }
  };

  try {
    for (; reading < prefixes.length; reading++) {
      startMore();
      const lane = lanes[reading]!;
      // It may be waiting for room while it was ahead: it is the one being read now.
      lane.onTaken?.();
      for (;;) {
        const page = lane.pages.shift();
        if (page) {
          lane.onTaken?.();
          yield page;
          continue;
        }
        if (lane.done) break;
        await new Promise<void>((resolve) => (lane.onPage = resolve));
      }
      lanes[reading] = undefined;
      if (lane.failed) throw lane.error;
    }
  } finally {
    stopped = true;
    for (const lane of lanes) lane?.onTaken?.();
  }
}
