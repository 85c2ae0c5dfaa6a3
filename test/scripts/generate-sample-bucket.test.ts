import { listObjects } from "../../src/sources/types.js";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { sampleBucket } from "../../scripts/generate-sample-bucket.js";
import { LocalSource } from "../../src/sources/LocalSource.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("npm run fixtures", () => {
  it("regenerates the committed sample bucket byte for byte, metadata included", async () => {
    const built = sampleBucket();
    const committed = await LocalSource.open(path.join(root, "fixtures", "sample-bucket"));
    const keys: string[] = [];
    for await (const o of listObjects(committed)) keys.push(o.key);
    expect(keys.sort()).toEqual([...built.objects.keys()].sort());
    for (const key of keys) {
      expect(
        readFileSync(path.join(root, "fixtures", "sample-bucket", ...key.split("/"))).equals(
          built.objects.get(key)!,
        ),
      ).toBe(true);
      expect(await committed.metadata(key)).toEqual(built.metadata.get(key) ?? {});
    }
  });
});
