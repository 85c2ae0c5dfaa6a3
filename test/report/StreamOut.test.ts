/**
 * StreamOut gathers writes into pieces: whatever the stream's pace, every character arrives once and in order,
 * writers wait while the stream is full, records go out as the event loop turns (never held until the end), and a
 * failing stream fails its writers.
 */
import { setImmediate as turn } from "node:timers/promises";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { StreamOut } from "../../src/report/StreamOut.js";

/** A stream that takes `delayMs` a chunk, keeping what it got. */
function sink(highWaterMark: number, delayMs: number): Writable & { text: () => string; chunks: number } {
  const parts: string[] = [];
  const stream = new Writable({
    highWaterMark,
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      parts.push(chunk.toString());
      stream.chunks++;
      if (delayMs > 0) setTimeout(callback, delayMs);
      else callback();
    },
  }) as Writable & { text: () => string; chunks: number };
  stream.chunks = 0;
  stream.text = () => parts.join("");
  return stream;
}

describe("StreamOut", () => {
  it.each([
    { name: "a fast stream, small records", highWaterMark: 16 * 1024, delayMs: 0, records: 5000, size: 20 },
    { name: "a slow stream that fills", highWaterMark: 1024, delayMs: 1, records: 400, size: 700 },
    { name: "records larger than a piece", highWaterMark: 16 * 1024, delayMs: 0, records: 5, size: 100_000 },
  ])("$name: every character once, in order", async ({ highWaterMark, delayMs, records, size }) => {
    const stream = sink(highWaterMark, delayMs);
    const out = new StreamOut(stream);
    let expected = "";
    for (let i = 0; i < records; i++) {
      const record = `${i}:${String(i % 10).repeat(size)}\n`;
      expected += record;
      await out.write(record);
    }
    await out.flush();
    expect(stream.text()).toBe(expected);
  });

  it("gathers small writes into few stream writes", async () => {
    const stream = sink(16 * 1024, 0);
    const out = new StreamOut(stream);
    for (let i = 0; i < 10_000; i++) await out.write(`{"object":"file-${i}"}\n`);
    await out.flush();
    expect(stream.chunks).toBeLessThan(20);
  });

  it("writers wait while the stream is full: what it holds stays bounded", async () => {
    const stream = sink(4 * 1024, 2);
    const out = new StreamOut(stream);
    let peak = 0;
    for (let i = 0; i < 200; i++) {
      await out.write("x".repeat(10_000));
      peak = Math.max(peak, stream.writableLength);
    }
    await out.flush();
    // At most one piece of about 64 KB beyond the stream's mark, never the 2 MB written.
    expect(peak).toBeLessThan(4 * 1024 + 64 * 1024 + 10_000);
    expect(stream.text().length).toBe(2_000_000);
  });

  it("what is written reaches the stream once the event loop turns, without a flush", async () => {
    const stream = sink(16 * 1024, 0);
    const out = new StreamOut(stream);
    await out.write('{"type":"file"}\n');
    await turn();
    await turn();
    expect(stream.text()).toBe('{"type":"file"}\n');
  });

  it("a stream that fails fails the writers waiting on it and the flush", async () => {
    const stream = new Writable({
      highWaterMark: 16,
      write(_chunk, _encoding, callback) {
        setTimeout(() => callback(new Error("disk full")), 1);
      },
    });
    stream.on("error", () => undefined);
    const out = new StreamOut(stream);
    const attempt = async () => {
      for (let i = 0; i < 100; i++) await out.write("y".repeat(70_000));
      await out.flush();
    };
    await expect(attempt()).rejects.toThrow(/disk full/);
  });
  it("bytes written as they are go after the text gathered before them, and wait while the stream is full", async () => {
    const stream = sink(1024, 1);
    const out = new StreamOut(stream);
    let expected = "";
    for (let i = 0; i < 200; i++) {
      const text = `t${i}:${"é".repeat(i % 50)}\n`;
      const bytes = `b${i}:${"😀".repeat(i % 30)}\n`;
      expected += text + bytes;
      await out.write(text);
      await out.writeBytes(Buffer.from(bytes, "utf8"));
      // Never more queued than a full stream and one write: the writer waited.
      expect(stream.writableLength).toBeLessThanOrEqual(1024 + 200);
    }
    await out.flush();
    expect(stream.text()).toBe(expected);
  });
});
