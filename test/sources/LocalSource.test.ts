import { listObjects } from "../../src/sources/types.js";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ASYNC_READ_BYTES, LocalSource } from "../../src/sources/LocalSource.js";

const root = mkdtempSync(path.join(tmpdir(), "cts-audit-local-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("LocalSource", () => {
  mkdirSync(path.join(root, "b", "a"), { recursive: true });
  writeFileSync(path.join(root, "b", "a", "one.json.gz"), Buffer.from("0123456789"));
  writeFileSync(path.join(root, "b", "two.json"), Buffer.alloc(0));
  writeFileSync(path.join(root, "b", "two.json.meta.json"), JSON.stringify({ signature: "s" }));

  it("lists every file by key in byte order, without metadata sidecars", async () => {
    const source = await LocalSource.open(path.join(root, "b"));
    const listed = [];
    for await (const o of listObjects(source)) listed.push([o.key, o.size]);
    expect(listed).toEqual([
      ["a/one.json.gz", 10],
      ["two.json", 0],
    ]);
    expect(await source.metadata("two.json")).toEqual({ signature: "s" });
  });

  it.each([
    { name: "no sidecar: no metadata", key: "m/none", sidecar: undefined, want: {} },
    {
      name: "a sidecar: its string fields, keys lower-cased",
      key: "m/one",
      sidecar: '{"Signature":"ab","n":1}',
      want: { signature: "ab" },
    },
    {
      name: "a sidecar that is not JSON",
      key: "m/two",
      sidecar: "{",
      want: /m\/two\.meta\.json is not valid JSON/,
    },
    {
      name: "a sidecar that is a folder",
      key: "m/three",
      sidecar: null,
      want: /metadata sidecar of m\/three cannot be read/,
    },
  ])("metadata, $name", async ({ key, sidecar, want }) => {
    // A bucket of its own: the other tests list and read "b".
    const file = path.join(root, "meta", ...key.split("/"));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, "x");
    if (sidecar === null) mkdirSync(`${file}.meta.json`, { recursive: true });
    else if (sidecar !== undefined) writeFileSync(`${file}.meta.json`, sidecar);
    const source = await LocalSource.open(path.join(root, "meta"));
    if (want instanceof RegExp) await expect(source.metadata(key)).rejects.toThrow(want);
    else expect(await source.metadata(key)).toEqual(want);
  });

  it.each([
    ["a file within the bound", "a/one.json.gz", 10, "0123456789"],
    ["an empty file", "two.json", 0, ""],
    [
      "a file larger than the bound (it grew since the listing): stream it instead",
      "a/one.json.gz",
      9,
      undefined,
    ],
  ])("reads %s whole", async (_case, key, maxBytes, want) => {
    const source = await LocalSource.open(path.join(root, "b"));
    const got = await source.read(key, maxBytes);
    if (want === undefined) {
      // Streamed, whole: nothing is cut at the bound.
      expect(Buffer.isBuffer(got)).toBe(false);
      const chunks: Buffer[] = [];
      for await (const c of got as AsyncIterable<Buffer>) chunks.push(c);
      expect(Buffer.concat(chunks).toString()).toBe("0123456789");
    } else expect(Buffer.isBuffer(got) && got.toString()).toBe(want);
  });

  it.each([
    ["at the pool's threshold", ASYNC_READ_BYTES, ASYNC_READ_BYTES],
    ["above it, several megabytes", 3 * 1024 * 1024 + 7, 3 * 1024 * 1024 + 7],
    ["above it, and grown since the listing: streamed", ASYNC_READ_BYTES + 10, ASYNC_READ_BYTES + 9],
    ["just under it", ASYNC_READ_BYTES - 1, ASYNC_READ_BYTES - 1],
  ])("reads a large file %s whole, byte for byte", async (_case, size, maxBytes) => {
    const dir = path.join(root, `large-${size}-${maxBytes}`);
    mkdirSync(dir, { recursive: true });
    const bytes = randomBytes(size);
    writeFileSync(path.join(dir, "big.json.gz"), bytes);
    const source = await LocalSource.open(dir);
    const got = await source.read("big.json.gz", maxBytes);
    if (size > maxBytes) {
      expect(Buffer.isBuffer(got)).toBe(false);
      const chunks: Buffer[] = [];
      for await (const c of got as AsyncIterable<Buffer>) chunks.push(c);
      expect(Buffer.concat(chunks).equals(bytes)).toBe(true);
    } else expect(Buffer.isBuffer(got) && got.equals(bytes)).toBe(true);
  });

  it("names the object that cannot be read, and refuses keys outside the root", async () => {
    const source = await LocalSource.open(path.join(root, "b"));
    await expect(source.read("a/missing.json.gz", 100)).rejects.toThrow(
      /object a\/missing.json.gz cannot be read/,
    );
    await expect(source.read("../outside", 100)).rejects.toThrow(/outside the source/);
    // A read that fails once the file is open (a directory: EISDIR), on this thread and on the pool alike.
    mkdirSync(path.join(root, "b", "a", "dir.json.gz"), { recursive: true });
    for (const bound of [100, ASYNC_READ_BYTES])
      await expect(source.read("a/dir.json.gz", bound)).rejects.toMatchObject({
        code: "READ",
        message: expect.stringMatching(/object a\/dir.json.gz cannot be read: .*EISDIR/) as unknown,
      });
    await expect(LocalSource.open(path.join(root, "nope"))).rejects.toThrow(/does not exist/);
  });
});
