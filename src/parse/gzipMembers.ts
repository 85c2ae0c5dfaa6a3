import { crc32, createInflateRaw, gunzip, inflateRawSync, type InflateRaw } from "node:zlib";
import { ParseError } from "../errors.js";

/*
 * Gzip framing (RFC 1952) read here, the deflate data inflated raw by zlib. Why not Node's gunzip: it checks a
 * member's trailer (CRC-32, ISIZE) and the bytes after it in the same call that inflates the member's last
 * bytes, and on a mismatch it throws that call's output away with the error: a whole small file, or the last
 * 128 KB of a large one, inflated fine and never reached the parser, and their alerts were lost. It also reads
 * concatenated members and skips trailing zero bytes without a word. Here every inflated byte is handed out
 * first, and the trailer is judged after, so the alerts stand and the file still fails. The raw inflate with a
 * separate CRC-32 costs less than gunzip (zlib's crc32 runs at several GB/s). Differential tests check the result
 * against zlib's own gunzip on well-formed files. One place uses gunzip: inflateWholeMemberAsync, a whole file in
 * one call on the thread pool, where its checks run off the main thread and nothing is lost to them: any fault
 * there sends the file to the careful path here.
 *
 * CTS writes each trace file as one gzip member (one GZIPOutputStream over the JSON array), nothing after it. A
 * file of more members is not one CTS wrote: a reader that stops after the first member (as many do) sees other
 * traces than one that reads them all, so a second member can carry traces past a digest and past other tools.
 * That holds for an empty first member too, which no size check of the last trailer can see: members are counted.
 */

const FTEXT_FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const RESERVED_FLAGS = 0xe0;

/** What the framing of a gzip file was found to be, once its content is inflated. */
export interface GzipFraming {
  /** Members whose header was read. */
  members: number;
  /** The first fault of the framing (header, trailer, members, data after them); the content before it stands. */
  problem?: ParseError;
}

/**
 * The length of the gzip header at the start of `bytes`: undefined when more bytes are needed, or a ParseError when
 * these are not a gzip header zlib would accept.
 */
export function gzipHeaderLength(bytes: Buffer): number | undefined | ParseError {
  if (bytes.length < 10) return bytes.length >= 1 && bytes[0] !== 0x1f ? notGzip() : undefined;
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return notGzip();
  if (bytes[2] !== 8)
    return new ParseError("GZIP", `corrupt gzip data: unknown compression method ${bytes[2]}`);
  const flags = bytes[3]!;
  if (flags & RESERVED_FLAGS) return new ParseError("GZIP", "corrupt gzip data: reserved header flags set");
  let at = 10;
  if (flags & FEXTRA) {
    if (bytes.length < at + 2) return undefined;
    at += 2 + bytes.readUInt16LE(at);
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if (!(flags & flag)) continue;
    const end = bytes.indexOf(0, at);
    if (end === -1) return undefined;
    at = end + 1;
  }
  if (flags & FTEXT_FHCRC) {
    if (bytes.length < at + 2) return undefined;
    if (bytes.readUInt16LE(at) !== (crc32(bytes.subarray(0, at)) & 0xffff))
      return new ParseError("GZIP", "corrupt gzip data: header CRC mismatch");
    at += 2;
  }
  return bytes.length < at ? undefined : at;
}

function notGzip(): ParseError {
  return new ParseError("GZIP", "corrupt gzip data: not a gzip header");
}

/** The fault of a member's trailer, given what its deflate data inflated to. */
function trailerProblem(trailer: Buffer, member: number, crc: number, size: number): ParseError | undefined {
  if (trailer.length < 8) {
    return new ParseError(
      "GZIP",
      `corrupt or truncated gzip data: member ${member} ends without its 8-byte trailer (${trailer.length} bytes)`,
    );
  }
  const storedCrc = trailer.readUInt32LE(0);
  const storedSize = trailer.readUInt32LE(4);
  if (storedCrc !== crc >>> 0) {
    return new ParseError(
      "GZIP",
      `corrupt gzip data: CRC-32 mismatch in member ${member} (trailer ${hex(storedCrc)}, content ${hex(crc)})`,
    );
  }
  if (storedSize !== size % 2 ** 32) {
    return new ParseError(
      "GZIP",
      `corrupt gzip data: size mismatch in member ${member} (trailer ${storedSize} bytes, content ${size})`,
    );
  }
  return undefined;
}

const hex = (n: number) => (n >>> 0).toString(16).padStart(8, "0");

function afterMembers(bytes: number, members: number): ParseError {
  return members > 1
    ? moreMembers(members)
    : new ParseError(
        "GZIP_MEMBERS",
        `data after the gzip member (${bytes}+ bytes): rejected, CTS writes one member and nothing after it`,
      );
}

function moreMembers(members: number): ParseError {
  return new ParseError(
    "GZIP_MEMBERS",
    `more than one gzip member (${members}): rejected, CTS writes one; a second member can carry traces past a digest (their traces were read all the same)`,
  );
}

/**
 * Inflates a whole gzip file in one call when it is exactly one well-formed member; undefined otherwise (any fault:
 * the caller streams the bytes through {@link inflateGzip}, which hands out what inflates and names the fault).
 * `maxOutput` bounds the output (the caller sizes it from the trailer).
 */
export function inflateWholeMember(stored: Buffer, maxOutput: number): Buffer | undefined {
  const header = gzipHeaderLength(stored);
  if (typeof header !== "number") return undefined;
  let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
  try {
    inflated = inflateRawSync(stored.subarray(header), {
      info: true,
      maxOutputLength: maxOutput,
      // Outputs under 4 KB come from Node's buffer pool; larger ones get one buffer for the whole file.
      chunkSize: Math.max(4095, maxOutput),
    }) as unknown as typeof inflated;
  } catch {
    return undefined;
  }
  return checkedWhole(stored, header + inflated.engine.bytesWritten, inflated.buffer);
}

/**
 * {@link inflateWholeMember} on zlib's thread pool, for larger files (this thread hashes meanwhile). zlib's own
 * gunzip runs here, not a raw inflate: it checks the trailer's CRC-32 and size on the pool, where the raw inflate
 * left a CRC-32 of the whole content to this thread (about 40% of this thread's share of a file's inflate). What
 * gunzip lets pass is ruled out around it: a second member (the content would outgrow the last trailer's size,
 * unless the first member is empty, which the probe sees), bytes after the member (zlib stops at trailing zeros
 * and fails on anything else), and any fault at all (undefined: the caller streams the file and names it).
 */
export async function inflateWholeMemberAsync(
  stored: Buffer,
  maxOutput: number,
): Promise<Buffer | undefined> {
  const header = gzipHeaderLength(stored);
  if (typeof header !== "number" || !firstMemberMayBeWhole(stored, header)) return undefined;
  const inflated = await new Promise<{ buffer: Buffer; engine: { bytesWritten: number } } | undefined>(
    (resolve) => {
      try {
        gunzip(
          stored,
          // One output buffer for the whole file (the caller sizes maxOutput from the trailer).
          { info: true, maxOutputLength: maxOutput, chunkSize: Math.max(4095, maxOutput) },
          (error, result) => resolve(error ? undefined : (result as unknown as typeof inflated)),
        );
      } catch {
        // Options zlib refuses (a bound out of its range): undefined, as the one-call inflate on this thread says.
        resolve(undefined);
      }
    },
  );
  if (!inflated || inflated.engine.bytesWritten !== stored.length) return undefined;
  const content = inflated.buffer;
  return stored.length >= 18 && content.length === stored.readUInt32LE(stored.length - 4)
    ? content
    : undefined;
}

/**
 * False when the first member ends having inflated at most one byte and the file goes on after its trailer: then
 * gunzip would read the next member as if it were the file (an empty first member passes every size check). One
 * output chunk of 64 bytes at most is inflated to see it.
 */
function firstMemberMayBeWhole(stored: Buffer, header: number): boolean {
  let probe: { engine: { bytesWritten: number } };
  try {
    probe = inflateRawSync(stored.subarray(header), {
      info: true,
      maxOutputLength: 1,
      chunkSize: 64,
    }) as unknown as typeof probe;
  } catch {
    // More than a byte of content (or a fault, which gunzip meets and reports as undefined).
    return true;
  }
  return header + probe.engine.bytesWritten + 8 === stored.length;
}

/** The content, when the deflate data ended just before the file's last 8 bytes and they match it. */
function checkedWhole(stored: Buffer, end: number, content: Buffer): Buffer | undefined {
  if (end + 8 !== stored.length) return undefined;
  return trailerProblem(stored.subarray(end), 1, crc32(content), content.length) ? undefined : content;
}

/**
 * Inflates the stored bytes of a gzip file member by member, yielding the content as it inflates. A fault of the
 * framing (a bad trailer, a second member, data after the member) does not stop the content: every byte that
 * inflates is yielded, and the fault is left in `framing.problem` for the caller to report once the content is
 * parsed. Corrupt or truncated deflate data throws (a ParseError, code GZIP) after what inflated before it.
 */
export async function* inflateGzip(
  stored: AsyncIterable<Buffer>,
  framing: GzipFraming,
  chunkSize: number,
): AsyncGenerator<Buffer> {
  const input = stored[Symbol.asyncIterator]();
  let pending: Buffer = Buffer.alloc(0);
  let inputDone = false;
  const more = async (): Promise<boolean> => {
    if (inputDone) return false;
    const next = await input.next();
    if (next.done) {
      inputDone = true;
      return false;
    }
    pending = pending.length === 0 ? next.value : Buffer.concat([pending, next.value]);
    return true;
  };
  const fail = (problem: ParseError) => void (framing.problem ??= problem);

  for (;;) {
    let header = gzipHeaderLength(pending);
    while (header === undefined && (await more())) header = gzipHeaderLength(pending);
    if (framing.members > 0 && pending.length === 0) return;
    if (header === undefined) {
      if (framing.members === 0) throw new ParseError("GZIP", "corrupt or truncated gzip data (header)");
      return fail(afterMembers(pending.length, framing.members));
    }
    if (header instanceof ParseError) {
      if (framing.members === 0) throw header;
      // Data after the member: its zeros or garbage are read no further (they inflate to nothing).
      return fail(afterMembers(pending.length, framing.members));
    }
    framing.members++;
    if (framing.members > 1 && (!framing.problem || framing.problem.code === "GZIP_MEMBERS"))
      framing.problem = moreMembers(framing.members);

    const inflater = createInflateRaw({ chunkSize });
    const unconsumed = new Unconsumed();
    const feeding = feedMember(inflater, pending.subarray(header), input, unconsumed, () => {
      inputDone = true;
    });
    let crc = 0;
    let size = 0;
    try {
      for await (const chunk of inflater as AsyncIterable<Buffer>) {
        crc = crc32(chunk, crc);
        size += chunk.length;
        yield chunk;
      }
    } catch (err) {
      await feeding.catch(() => undefined);
      if (err instanceof ParseError) throw err;
      throw new ParseError(
        "GZIP",
        `corrupt or truncated gzip data in member ${framing.members} (${String((err as Error).message)})`,
        {
          cause: err,
        },
      );
    } finally {
      inflater.destroy();
    }
    await feeding;
    // The stored bytes past the member's deflate data: its trailer, and whatever follows.
    pending = unconsumed.after(inflater.bytesWritten);
    while (pending.length < 8 && (await more()));
    const problem = trailerProblem(pending.subarray(0, 8), framing.members, crc, size);
    // A bad trailer fails the file, but what follows it is read all the same: nothing behind it goes unaudited.
    if (problem) fail(problem);
    pending = pending.subarray(8);
  }
}

/** The chunks written to an inflater that it may not have consumed yet, to find what follows its data. */
class Unconsumed {
  private chunks: Buffer[] = [];
  /** Stored bytes (of this member's writes) before the first kept chunk. */
  private start = 0;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  /** Drops the chunks wholly before `consumed`. */
  trim(consumed: number): void {
    while (this.chunks.length > 0 && this.start + this.chunks[0]!.length <= consumed) {
      this.start += this.chunks.shift()!.length;
    }
  }

  /** The written bytes from `consumed` on. */
  after(consumed: number): Buffer {
    this.trim(consumed);
    const rest = Buffer.concat(this.chunks);
    return rest.subarray(consumed - this.start);
  }
}

/**
 * Writes a member's stored bytes into its inflater with back-pressure until the inflater stops taking them (its
 * deflate data ended: what it did not take is the trailer and what follows) or the stored bytes end. Ended only
 * once the last write is inflated: piping would hand the last chunk over with the finish flag, and a truncated
 * file would lose that call's output with the error.
 */
async function feedMember(
  inflater: InflateRaw,
  first: Buffer,
  input: AsyncIterator<Buffer>,
  unconsumed: Unconsumed,
  onInputDone: () => void,
): Promise<void> {
  // Raw inflate takes every byte of a write unless its data ended within it.
  let done = false;
  let total = 0;
  const closed = new Promise<void>((resolve) => inflater.once("close", resolve));
  let written: Promise<unknown> = Promise.resolve();
  const write = async (chunk: Buffer) => {
    for (let at = 0; at < chunk.length && !done && !inflater.destroyed; at += FEED_SLICE) {
      // Slices: zlib reports corrupt data with the loss of what the failing call inflated; a call's input is small.
      const slice = chunk.subarray(at, at + FEED_SLICE);
      unconsumed.add(slice);
      total += slice.length;
      const end = total;
      written = new Promise((resolve) =>
        inflater.write(slice, () => {
          if (inflater.bytesWritten < end) done = true;
          unconsumed.trim(inflater.bytesWritten);
          resolve(undefined);
        }),
      );
      if (inflater.writableNeedDrain)
        await Promise.race([new Promise((r) => inflater.once("drain", r)), closed]);
    }
  };
  try {
    await write(first);
    for (;;) {
      await Promise.race([written, closed]);
      if (done || inflater.destroyed) return;
      const next = await input.next();
      if (next.done) {
        onInputDone();
        break;
      }
      await write(next.value);
    }
    if (!inflater.destroyed) inflater.end();
  } catch (err) {
    // The stored bytes stopped coming (a reset connection): what did arrive is inflated first, then it fails.
    await Promise.race([written, closed]);
    inflater.destroy(err as Error);
  }
}

const FEED_SLICE = 16 * 1024;
