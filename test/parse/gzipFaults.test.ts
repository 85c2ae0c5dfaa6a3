import { Readable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";
import { auditObject } from "../../src/parse/auditObject.js";
import {
  gzipHeaderLength,
  inflateWholeMember,
  inflateWholeMemberAsync,
} from "../../src/parse/gzipMembers.js";

const rules = new AuditRules(
  [...DEFAULT_EVENTS],
  AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]),
);

/** A trace set: logins, logouts and other traces, allowed and not, some padded past zlib's 128 KB output chunk. */
const traceSet = fc.array(
  fc.record({
    trace_name: fc.constantFrom("login", "logout", "loginFailed", "createUser", "listBuckets"),
    source_ip: fc.constantFrom("192.0.2.9", "203.0.113.7", "198.51.100.70", "2001:db8::1", ""),
    pad: fc.nat({ max: 3000 }).map((n) => "p".repeat(n)),
  }),
  { minLength: 1, maxLength: 120 },
);

const withIds = (set: Array<Record<string, unknown>>, prefix: string) =>
  set.map((t, i) => ({ trace_id: `${prefix}${i}`, time: 1721358527589 + i, ...t }));

/** The alerts a full parse of the JSON finds, by trace id: what must survive any trailer fault. */
function expectedAlerts(traces: Array<Record<string, unknown>>): string[] {
  return traces.flatMap((t) => {
    const outcome = rules.audit(t);
    return outcome.matched ? outcome.alerts.map((a) => a.traceId) : [];
  });
}

type Fault =
  | { kind: "crc"; bit: number }
  | { kind: "isize"; delta: number }
  | { kind: "truncate-trailer"; bytes: number }
  | { kind: "garbage"; bytes: Uint8Array }
  | { kind: "second-member-bad"; bit: number }
  | { kind: "second-member" }
  | { kind: "empty-first-member" };

const fault: fc.Arbitrary<Fault> = fc.oneof(
  fc.record({ kind: fc.constant("crc" as const), bit: fc.nat({ max: 31 }) }),
  fc.record({ kind: fc.constant("isize" as const), delta: fc.integer({ min: 1, max: 2 ** 32 - 1 }) }),
  fc.record({ kind: fc.constant("truncate-trailer" as const), bytes: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    kind: fc.constant("garbage" as const),
    bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.constant(new Uint8Array(16))),
  }),
  fc.record({ kind: fc.constant("second-member-bad" as const), bit: fc.nat({ max: 63 }) }),
  fc.record({ kind: fc.constant("second-member" as const) }),
  fc.record({ kind: fc.constant("empty-first-member" as const) }),
);

function corrupt(first: Buffer, second: Buffer, f: Fault): Buffer {
  const bytes = Buffer.from(first);
  switch (f.kind) {
    case "crc":
      bytes[bytes.length - 8 + (f.bit >> 3)]! ^= 1 << (f.bit & 7);
      return bytes;
    case "isize":
      bytes.writeUInt32LE((bytes.readUInt32LE(bytes.length - 4) + f.delta) % 2 ** 32, bytes.length - 4);
      return bytes;
    case "truncate-trailer":
      return bytes.subarray(0, bytes.length - f.bytes);
    case "garbage":
      return Buffer.concat([bytes, f.bytes]);
    case "second-member-bad": {
      // The second member's trailer damaged: its content still inflates whole.
      const other = Buffer.from(second);
      other[other.length - 8 + (f.bit >> 3)]! ^= 1 << (f.bit & 7);
      return Buffer.concat([bytes, other]);
    }
    case "second-member":
      return Buffer.concat([bytes, second]);
    case "empty-first-member":
      // What a check of the last trailer's size alone lets through: the first member adds nothing.
      return Buffer.concat([gzipSync(Buffer.alloc(0)), bytes]);
  }
}

/** Random chunking of a stream, so that trailers and members straddle chunk boundaries. */
function chunks(bytes: Buffer, sizes: number[]): Readable {
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = 0; at < bytes.length; i++) {
    const size = sizes[i % sizes.length]!;
    parts.push(bytes.subarray(at, at + size));
    at += size;
  }
  return Readable.from(parts, { objectMode: false });
}

const read = { hashAlgorithms: ["md5"], maxDecompressedBytes: 64 * 1024 * 1024 };

describe("gzip trailer faults (property): every alert of the bytes that inflated stands, and the file fails", () => {
  it.each([
    ["whole-buffer path", "buffer"],
    ["streaming path, JSON.parse of a small file", "stream-buffered"],
    ["streaming path, streamed", "stream"],
  ])("%s", async (_name, path) => {
    await fc.assert(
      fc.asyncProperty(
        traceSet,
        traceSet,
        fault,
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        async (set1, set2, f, sizes, ndjson) => {
          const one = withIds(set1, "a");
          const two = withIds(set2, "b");
          const text = (ts: object[]) =>
            ndjson ? ts.map((t) => JSON.stringify(t)).join("\n") + "\n" : JSON.stringify(ts);
          const bytes = corrupt(gzipSync(text(one)), gzipSync(text(two)), f);
          const audited =
            path === "buffer"
              ? await auditObject(bytes, rules, { ...read, bufferLimit: 8 * 1024 * 1024 })
              : await auditObject(chunks(bytes, sizes), rules, {
                  ...read,
                  bufferLimit: path === "stream" ? 0 : 8 * 1024 * 1024,
                });
          const inflated = f.kind.startsWith("second-member") ? [...one, ...two] : one;
          const got = audited.matches.flatMap((m) => m.alerts.map((a) => a.traceId));
          expect(got).toEqual(expectedAlerts(inflated));
          expect(audited.result.error?.code).toMatch(/^GZIP/);
          expect(audited.result.error?.message).toMatch(/CRC-32|size mismatch|trailer|member|data after/);
          expect(audited.result.hashes.md5).toBeDefined();
        },
      ),
      { numRuns: path === "buffer" ? 150 : 80 },
    );
  });

  it("accepts well-formed files, gzip headers with every optional field included (against zlib)", async () => {
    await fc.assert(
      fc.asyncProperty(
        traceSet,
        fc.record({
          extra: fc.option(fc.uint8Array({ maxLength: 40 })),
          name: fc.option(fc.stringMatching(/^[a-z.]{1,20}$/)),
          comment: fc.option(fc.stringMatching(/^[ a-z]{1,30}$/)),
          headerCrc: fc.boolean(),
        }),
        async (set, h) => {
          const json = JSON.stringify(withIds(set, "a"));
          const plain = gzipSync(json);
          // zlib writes no optional fields: build them, with the deflate data and trailer of a real member.
          let flags = 0;
          const parts: Buffer[] = [];
          if (h.extra) {
            flags |= 4;
            const len = Buffer.alloc(2);
            len.writeUInt16LE(h.extra.length);
            parts.push(len, Buffer.from(h.extra));
          }
          if (h.name) {
            flags |= 8;
            parts.push(Buffer.from(h.name + "\0", "latin1"));
          }
          if (h.comment) {
            flags |= 16;
            parts.push(Buffer.from(h.comment + "\0", "latin1"));
          }
          const fixed = Buffer.from(plain.subarray(0, 10));
          fixed[3] = flags | (h.headerCrc ? 2 : 0);
          let header = Buffer.concat([fixed, ...parts]);
          if (h.headerCrc) {
            const { crc32 } = await import("node:zlib");
            const crc = Buffer.alloc(2);
            crc.writeUInt16LE(crc32(header) & 0xffff);
            header = Buffer.concat([header, crc]);
          }
          const file = Buffer.concat([header, plain.subarray(10)]);
          // The independent reading: zlib's own gunzip accepts it and gives the same JSON.
          expect(gunzipSync(file).toString()).toBe(json);
          expect(gzipHeaderLength(file)).toBe(header.length);
          for (const input of [file, chunks(file, [3, 100])]) {
            const audited = await auditObject(input, rules, { ...read, bufferLimit: 8 * 1024 * 1024 });
            expect(audited.result.error).toBeUndefined();
            expect(audited.matches.flatMap((m) => m.alerts.map((a) => a.traceId))).toEqual(
              expectedAlerts(withIds(set, "a")),
            );
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("names the empty first member (a size check of the last trailer alone passes it)", async () => {
    const json = JSON.stringify(withIds([{ trace_name: "login", source_ip: "203.0.113.7" }], "a"));
    const bytes = Buffer.concat([gzipSync(Buffer.alloc(0)), gzipSync(json)]);
    const audited = await auditObject(bytes, rules, { ...read, bufferLimit: 1024 });
    expect(audited.result.error?.code).toBe("GZIP_MEMBERS");
    expect(audited.result.error?.message).toMatch(/more than one gzip member \(2\)/);
    expect(audited.matches).toHaveLength(1);
  });
});

describe("a whole file inflated in one call (property): one well-formed member or nothing", () => {
  // Both one-call inflates, against zlib's gunzip: the content of a well-formed member, undefined on any fault (the
  // caller then streams the file, which names the fault). Random padding keeps files past zlib's output chunks.
  const inflaters = [
    ["on the pool (gunzip, the trailer checked by zlib)", inflateWholeMemberAsync],
    ["on this thread (raw inflate and CRC-32)", async (b: Buffer, max: number) => inflateWholeMember(b, max)],
  ] as const;
  const noisy = fc.array(
    fc.record({
      trace_name: fc.constantFrom("login", "createUser"),
      source_ip: fc.constantFrom("192.0.2.9", "203.0.113.7"),
      pad: fc.uint8Array({ maxLength: 4000 }).map((b) => Buffer.from(b).toString("base64")),
    }),
    { minLength: 1, maxLength: 60 },
  );
  it.each(inflaters)("%s", async (_name, inflate) => {
    await fc.assert(
      fc.asyncProperty(noisy, noisy, fc.option(fault, { freq: 3 }), async (set1, set2, f) => {
        const first = gzipSync(JSON.stringify(withIds(set1, "a")));
        const bytes = f === null ? first : corrupt(first, gzipSync(JSON.stringify(withIds(set2, "b"))), f);
        const claimed = bytes.readUInt32LE(bytes.length - 4);
        const got = await inflate(bytes, claimed + 1);
        if (f === null) expect(got?.equals(gunzipSync(first))).toBe(true);
        else expect(got).toBeUndefined();
      }),
      { numRuns: 120 },
    );
  });

  it.each(inflaters)("%s: an empty first member, whatever its deflate blocks", async (_name, inflate) => {
    const json = JSON.stringify(withIds([{ trace_name: "login", source_ip: "203.0.113.7" }], "a"));
    // An empty member written with a stored block and a flush: longer deflate data than zlib's plain empty member.
    const emptyFlushed = gzipSync(Buffer.alloc(0), { level: 0 });
    for (const empty of [gzipSync(Buffer.alloc(0)), emptyFlushed, gzipSync(Buffer.alloc(0), { level: 9 })]) {
      const bytes = Buffer.concat([empty, empty, gzipSync(json)]);
      expect(await inflate(bytes, Buffer.byteLength(json) + 1)).toBeUndefined();
    }
    // A one-byte first member and the file's content after it: the content outgrows the last trailer.
    const bytes = Buffer.concat([gzipSync("["), gzipSync(json)]);
    expect(await inflate(bytes, Buffer.byteLength(json) + 1)).toBeUndefined();
  });

  it.each(inflaters)("%s: a bound zlib refuses is no content, not an error", async (_name, inflate) => {
    const file = gzipSync("[]");
    for (const bound of [0, -1, 2 ** 53]) expect(await inflate(file, bound)).toBeUndefined();
  });

  it.each(inflaters)("%s: bytes after the member that end as its trailer does", async (_name, inflate) => {
    // zlib stops quietly at a zero byte after a member; a copy of the trailer at the end passes the size check.
    const file = gzipSync(JSON.stringify(withIds([{ trace_name: "login", source_ip: "203.0.113.7" }], "a")));
    const claimed = file.readUInt32LE(file.length - 4);
    for (const after of [Buffer.from([0]), Buffer.alloc(13)]) {
      const bytes = Buffer.concat([file, after, file.subarray(file.length - 8)]);
      expect(await inflate(bytes, claimed + 1)).toBeUndefined();
    }
    expect((await inflate(file, claimed + 1))?.length).toBe(claimed);
  });
});
