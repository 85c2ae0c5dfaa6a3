import { Readable } from "node:stream";
import { SourceError } from "../errors.js";
import type { ObjectSource, SourceObject } from "./types.js";

/** Objects held in memory: the function's CTS trigger event (one trace, no object behind it). */
export class MemorySource implements ObjectSource {
  readonly bucket = undefined;
  constructor(
    readonly name: string,
    private readonly objects: ReadonlyMap<string, Buffer>,
    private readonly explicit = true,
  ) {}

  async *pages(): AsyncIterable<readonly SourceObject[]> {
    yield [...this.objects]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, bytes]) => ({ key, size: bytes.length, explicit: this.explicit }));
  }

  async open(key: string): Promise<Readable> {
    const bytes = this.objects.get(key);
    if (!bytes) throw new SourceError("OBJECT_NOT_FOUND", `object ${key} does not exist`);
    return Readable.from([bytes]);
  }

  async metadata(): Promise<Record<string, string>> {
    return {};
  }
}
