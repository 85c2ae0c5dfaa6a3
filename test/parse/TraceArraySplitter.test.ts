/**
 * The fast path must yield exactly the alerts of a full parse. Property tests over generated trace files and
 * mutated spellings of them (escaped quotes, unicode escapes, braces and brackets inside strings, whitespace,
 * nested trace_name keys, chunk boundaries anywhere), comparing the splitter + prefilter + JSON.parse of the
 * elements it lets through with JSON.parse of the whole file.
 */
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules } from "../../src/detect/AuditRules.js";
import { readTraceFile } from "../../src/parse/readTraceFile.js";
import { TraceArraySplitter, type SplitterEngine } from "../../src/parse/TraceArraySplitter.js";

const rules = new AuditRules(
  ["login", "logout", "loginFailed"],
  AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]),
);

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRICKY = [
  'quote " inside',
  "backslash \\ inside",
  "ends with backslash \\",
  "braces } { ] [ , : inside",
  '"trace_name":"login"',
  '{"trace_name": "login", "x": [1, {"y": "}"}]}',
  "unicode é ü 中文 😀",
  "\\u0022 literal",
  "",
  "tab\tnewline\nreturn\r",
];
const NAMES = [
  "login",
  "logout",
  "loginFailed",
  "loginfailed",
  "LOGIN",
  "createUser",
  "listUsers",
  "logi",
  "login ",
  "Login",
];

/** A random trace, sometimes with nested or escaped trace_name lookalikes and odd value types. */
function trace(r: () => number, i: number): Record<string, unknown> {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const t: Record<string, unknown> = {
    trace_id: `id-${i}`,
    trace_name: pick(NAMES),
    service_type: pick(["IAM", "IAM", "IAM", "ECS", undefined]),
    source_ip: pick(["203.0.113.7", "192.0.2.5", "", "garbage", "2001:db8::1", "::ffff:192.0.2.9"]),
    time: 1721358527589 + i,
    user:
      r() < 0.5
        ? JSON.stringify({ name: pick(TRICKY), id: "u" })
        : { name: "alice", id: "u", domain: { name: pick(TRICKY) } },
    message: pick(TRICKY),
  };
  if (r() < 0.2) t.request = { trace_name: pick(NAMES), nested: [pick(TRICKY), { trace_name: "login" }] };
  if (r() < 0.1) t.trace_name = r() < 0.5 ? 42 : null;
  if (r() < 0.1) delete t.trace_name;
  if (r() < 0.05) t.trace_name = "log\u0069n"; // the same string; the JSON spelling is chosen below
  return t;
}

/** Spells the array in one of several valid JSON ways. */
function spell(traces: Array<Record<string, unknown>>, r: () => number): string {
  const style = Math.floor(r() * 4);
  if (style === 0) return JSON.stringify(traces);
  if (style === 1) return JSON.stringify(traces, null, 2).replace(/\n/g, "\r\n");
  const parts = traces.map((t) => {
    let text = JSON.stringify(t, null, style === 2 ? "\t" : undefined);
    // Escape some characters that need no escape: valid JSON that a byte-level scanner must not trip on.
    if (r() < 0.3) text = text.replace(/"trace_name"/, '"trace\\u005fname"');
    if (r() < 0.3) text = text.replace(/"login"/g, '"log\\u0069n"');
    if (r() < 0.3) text = text.replace(/\//g, "\\/");
    return text;
  });
  return ` \n[ ${parts.join(" ,\n ")} ]\n `;
}

/** What a full parse audits: the reference. */
function fullParse(text: string): { traces: number; alerts: string[] } {
  const all = JSON.parse(text) as Array<Record<string, unknown>>;
  const alerts: string[] = [];
  for (const t of all) {
    const o = rules.audit(t);
    if (o.matched) for (const a of o.alerts) alerts.push(`${a.traceId}|${a.sourceIp}|${a.reason}`);
  }
  return { traces: all.length, alerts };
}

/** The fast path, fed in chunks of the given sizes. */
async function fastPath(
  bytes: Buffer,
  chunk: () => number,
  splitter: SplitterEngine,
): Promise<{ traces: number; alerts: string[]; error?: string }> {
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = Math.max(1, chunk());
    parts.push(bytes.subarray(i, i + n));
    i += n;
  }
  const alerts: string[] = [];
  const result = await readTraceFile(Readable.from(parts), {
    hashAlgorithms: [],
    maxDecompressedBytes: 1 << 30,
    bufferLimit: 0,
    prefilter: rules.events,
    splitter,
    onTrace: (raw) => {
      const o = rules.audit(raw);
      if (o.matched) for (const a of o.alerts) alerts.push(`${a.traceId}|${a.sourceIp}|${a.reason}`);
    },
  });
  return { traces: result.traces, alerts, error: result.error?.message };
}

/** The elements a splitter of the audited names hands over, parsed, with their indices: `text` in chunks of `size`. */
function handedOver(text: string, size: number, engine: SplitterEngine): Array<[number, unknown]> {
  const got: Array<[number, unknown]> = [];
  const s = new TraceArraySplitter(
    rules.events,
    (i, b) => void (b && got.push([i, JSON.parse(b.toString())])),
    engine,
  );
  for (let i = 0; i < text.length; i += size) s.push(Buffer.from(text.slice(i, i + size)));
  s.end();
  return got;
}

describe.each(["wasm", "js"] as const)(
  "TraceArraySplitter, %s walk (property tests against a full parse)",
  (engine) => {
    it("uses the walk asked for", () => {
      expect(new TraceArraySplitter(rules.events, () => undefined, engine).engine).toBe(engine);
    });

    it("yields exactly the alerts and trace count of a full parse on 300 generated files, chunked anywhere", async () => {
      for (let seed = 1; seed <= 300; seed++) {
        const r = rng(seed);
        const traces = Array.from({ length: 1 + Math.floor(r() * 25) }, (_, i) => trace(r, i));
        const text = spell(traces, r);
        const want = fullParse(text);
        const bytes = Buffer.from(text);
        const chunkSizes = [
          () => bytes.length,
          () => 1,
          () => 1 + Math.floor(r() * 7),
          () => 1 + Math.floor(r() * 300),
        ];
        for (const chunk of chunkSizes) {
          const got = await fastPath(bytes, chunk, engine);
          expect({ seed, ...got }).toEqual({ seed, ...want, error: undefined });
        }
      }
    });

    it.each([
      ["a Kelvin sign that lower-cases to k", ["createKeypair"], "create\u212Aeypair"],
      ["a non-ASCII audited name", ["登录"], "登录"],
      ["upper case", ["login"], "LOGIN"],
      ["a dotted capital I (not an i once lower-cased)", ["login"], "LOG\u0130N"],
    ])("agrees with a full parse on trace_name spelled with %s", async (_case, events, name) => {
      const custom = new AuditRules(events, AllowList.parse([]));
      const text = JSON.stringify([
        { trace_id: "x", trace_name: "other", source_ip: "203.0.113.9" },
        { trace_id: "y", trace_name: name, source_ip: "203.0.113.9" },
      ]);
      const want = (JSON.parse(text) as Array<Record<string, unknown>>).filter(
        (t) => custom.audit(t).matched,
      );
      const got: Array<Record<string, unknown>> = [];
      const result = await readTraceFile(Readable.from([Buffer.from(text)]), {
        hashAlgorithms: [],
        maxDecompressedBytes: 1 << 20,
        bufferLimit: 0,
        prefilter: custom.events,
        splitter: engine,
        onTrace: (raw) => void (custom.audit(raw).matched && got.push(raw)),
      });
      expect(result.error).toBeUndefined();
      expect(got).toEqual(want);
    });

    it("agrees with a full parse on strings dense with escapes, at every alignment and across windows (property)", async () => {
      // Escaped quotes and backslashes every few bytes (as in the JSON that CTS keeps in request, response and user
      // strings), runs of backslashes, and a key of any length before them, so that each falls at every offset of
      // the walk's 16-byte blocks; some files start just before the wasm walk's 1 MiB window ends.
      const piece = fc.constantFrom(
        "\\",
        '"',
        "\\\\",
        '\\"',
        "a",
        "login",
        "/",
        "\u00e9",
        "x".repeat(15),
        "{",
        "]",
      );
      const str = fc.array(piece, { maxLength: 30 }).map((p) => p.join(""));
      const element = fc.record({
        pad: fc.nat({ max: 40 }),
        key: str,
        value: str,
        name: fc.oneof(fc.constantFrom(...NAMES), str),
        user: str,
      });
      await fc.assert(
        fc.asyncProperty(
          fc.array(element, { minLength: 1, maxLength: 25 }),
          fc.option(fc.nat({ max: 300 })),
          fc.integer({ min: 1, max: 70_000 }),
          async (elements, lead, chunkSize) => {
            const traces = elements.map((e, i) => ({
              trace_id: `id-${i}`,
              ["p".repeat(e.pad)]: e.value,
              [e.key]: e.value,
              trace_name: e.name,
              user: JSON.stringify({ name: e.user, v: e.value }),
              source_ip: "203.0.113.7",
            }));
            const text = (lead === null ? "" : " ".repeat((1 << 20) - lead)) + JSON.stringify(traces);
            const want = fullParse(text);
            const bytes = Buffer.from(text);
            for (const chunk of [() => bytes.length, () => chunkSize]) {
              expect(await fastPath(bytes, chunk, engine)).toEqual({ ...want, error: undefined });
            }
          },
        ),
        { numRuns: 150 },
      );
    });

    it("agrees with a full parse on an escaped quote or backslash run at each offset of a 16-byte block", async () => {
      for (let offset = 0; offset < 40; offset++) {
        for (const escape of ['\\"', "\\\\", '\\\\\\"', "\\u0022"]) {
          // What follows the string decides how a misread shows: an error, a login missed or one let through.
          for (const value of ["1", '"v"', `"${escape}"`]) {
            const key = `${"x".repeat(offset)}${escape}tail`;
            const text = `[{"${key}":${value},"trace_name":"login","source_ip":"203.0.113.7"},{"trace_id":"b","trace_name":"log${escape}in","source_ip":"203.0.113.8"},{"trace_name":"login","trace_id":"c","source_ip":"203.0.113.9"}]`;
            const want = fullParse(text);
            const got = await fastPath(Buffer.from(text), () => text.length, engine);
            expect({ offset, escape, value, ...got }).toEqual({
              offset,
              escape,
              value,
              ...want,
              error: undefined,
            });
          }
        }
      }
    });

    it("parses every element whose key or audited name is spelled with a \\u escape, at any position, past one block", async () => {
      // A name or key whose escape sits in one 16-byte block and whose closing quote in a later one: the walk must
      // remember the escape across blocks (it may spell an audited name), or the element is skipped unparsed.
      const long = "federationLoginNoPwdFailed";
      const events = new AuditRules([long, "loginFailed"], AllowList.parse([]));
      const spell = (text: string, at: number) =>
        `${text.slice(0, at)}\\u${text.charCodeAt(at).toString(16).padStart(4, "0")}${text.slice(at + 1)}`;
      const names = [long, "loginFailed"].flatMap((n) => [...n].map((_, at) => spell(n, at)));
      const keys = [..."trace_name"].map((_, at) => spell("trace_name", at));
      const elements = [
        ...names.map((name, i) => `{"trace_id":"n${i}","trace_name":"${name}","source_ip":"203.0.113.7"}`),
        ...keys.map((key, i) => `{"trace_id":"k${i}","${key}":"${long}","source_ip":"203.0.113.7"}`),
        // Padding before the name moves its escape to every offset of a block.
        ...Array.from(
          { length: 16 },
          (_, pad) => `{"trace_id":"p${pad}","${"q".repeat(pad)}":1,"trace_name":"${spell(long, 3)}"}`,
        ),
      ];
      const text = `[${elements.join(",")}]`;
      const want = (JSON.parse(text) as Array<Record<string, unknown>>)
        .filter((t) => events.audit(t).matched)
        .map((t) => t.trace_id);
      expect(want).toHaveLength(elements.length);
      const got: unknown[] = [];
      const result = await readTraceFile(Readable.from([Buffer.from(text)]), {
        hashAlgorithms: [],
        maxDecompressedBytes: 1 << 20,
        bufferLimit: 0,
        prefilter: events.events,
        splitter: engine,
        onTrace: (raw) => void (events.audit(raw).matched && got.push(raw.trace_id)),
      });
      expect(result.error).toBeUndefined();
      expect(got).toEqual(want);
    });

    it("splits megabytes in one push: many windows, more elements than the walk's record table holds", () => {
      // 200,000 elements of about 40 bytes: 8 MB, over 100,000 elements in each 1 MB window of the wasm walk.
      const elements = Array.from({ length: 200_000 }, (_, i) => ({
        i,
        trace_name: i % 1000 === 7 ? "Login" : "other",
        s: i % 3 ? "" : 'q"\\',
      }));
      const bytes = Buffer.from(JSON.stringify(elements));
      for (const size of [bytes.length, 999_983]) {
        const parsed: number[] = [];
        let count = 0;
        const s = new TraceArraySplitter(
          rules.events,
          (_i, b) => {
            count++;
            if (b) parsed.push((JSON.parse(b.toString()) as { i: number }).i);
          },
          engine,
        );
        for (let at = 0; at < bytes.length; at += size) s.push(bytes.subarray(at, at + size));
        s.end();
        expect(count).toBe(elements.length);
        // A chunk or window boundary may let an element through conservatively; every login must be there, and
        // little else (the prefilter works across windows).
        const logins = elements.filter((e) => e.trace_name === "Login").map((e) => e.i);
        expect(parsed.filter((i) => elements[i]!.trace_name === "Login")).toEqual(logins);
        expect(parsed.length).toBeLessThanOrEqual(logins.length + 32);
      }
    });

    it("keeps files apart when splitters take turns (one walk instance serves every file in flight)", () => {
      const r = rng(7);
      const files = [0, 1, 2].map((f) =>
        Buffer.from(
          spell(
            Array.from({ length: 40 }, (_, i) => trace(r, i + f * 100)),
            r,
          ),
        ),
      );
      const prefilters = [rules.events, new Set(["createuser", "login "]), undefined];
      const run = (interleaved: boolean, walk: SplitterEngine = engine) => {
        const out: string[][] = files.map(() => []);
        const splitters = files.map(
          (_, f) =>
            new TraceArraySplitter(
              prefilters[f],
              (i, b) => out[f]!.push(`${i}:${b?.toString() ?? "-"}`),
              walk,
            ),
        );
        const steps = files.map((bytes) => Array.from({ length: Math.ceil(bytes.length / 37) }, (_, k) => k));
        if (interleaved) {
          for (let k = 0; steps.some((st) => k < st.length); k++)
            files.forEach(
              (bytes, f) => k < steps[f]!.length && splitters[f]!.push(bytes.subarray(k * 37, k * 37 + 37)),
            );
        } else
          files.forEach((bytes, f) =>
            steps[f]!.forEach((k) => splitters[f]!.push(bytes.subarray(k * 37, k * 37 + 37))),
          );
        splitters.forEach((s) => s.end());
        return out;
      };
      // The same elements, parsed or not, as each file read alone by the JavaScript walk.
      expect(run(true)).toEqual(run(false, "js"));
      expect(run(true).map((o) => o.length)).toEqual([40, 40, 40]);
    });

    it("reads a login nested deeper than a million brackets, as JSON.parse does", () => {
      const depth = 1_100_000;
      const text = `[{"trace_name":"other"},{"trace_name":"login","x":${"[".repeat(depth)}${"]".repeat(depth)}},{"trace_name":"login"}]`;
      const got: string[] = [];
      const s = new TraceArraySplitter(
        rules.events,
        (i, b) => {
          if (b) got.push(`${i}:${(JSON.parse(b.toString()) as { trace_name: string }).trace_name}`);
        },
        engine,
      );
      s.push(Buffer.from(text));
      s.end();
      expect(got).toEqual(["1:login", "2:login"]);
    });

    it("splits elements exactly, with string contents that look like structure", () => {
      const elements = [{ a: '}],[{"' }, { b: "\\\\" }, { c: ["x", { d: '\\"]' }] }, {}];
      const text = JSON.stringify(elements);
      for (let size = 1; size <= text.length; size++) {
        const got: string[] = [];
        const s = new TraceArraySplitter(undefined, (_i, b) => got.push(b!.toString()), engine);
        for (let i = 0; i < text.length; i += size) s.push(Buffer.from(text.slice(i, i + size)));
        s.end();
        expect(got.map((g) => JSON.parse(g))).toEqual(elements);
      }
    });

    it.each([
      ['[{"a":1}', /truncated/],
      ['[{"a":"1}]', /truncated/],
      ['[{"a":1}{"b":2}]', /missing ,/],
      ['[{"a":1},,{"b":2}]', /unexpected ,/],
      ['[{"a":[1}]', /mismatched/],
      ['[{"a":1}] x', /after the end/],
      ['[{"a":1},}]', /unexpected \}/],
      ['[{"a":1},:{"b":2}]', /unexpected :/],
      ['[{"a":1} 1]', /missing ,/],
      ['[1 {"a":1}]', /missing ,/],
      ['[[1]{"a":1}]', /missing ,/],
      ['["x"', /truncated/],
      ["[1", /truncated/],
      ['{"a": 1}', /not a JSON array/],
      ["", /empty/],
    ])("reports %j as %s", (text, error) => {
      const s = new TraceArraySplitter(undefined, () => undefined, engine);
      expect(() => {
        s.push(Buffer.from(text));
        s.end();
      }).toThrow(error);
    });

    it("hands over elements that are not objects whole, chunked anywhere, and the traces after them as usual", () => {
      const elements: unknown[] = [
        1,
        { trace_name: "login", a: 1 },
        'x,]"}{[',
        [1, [{ trace_name: "login" }, "]"]],
        null,
        true,
        -1.5e3,
        { trace_name: "createUser" },
        "",
        [],
        { trace_name: "logout" },
      ];
      const text = ` [ ${elements.map((e) => JSON.stringify(e)).join(" ,\n ")} ] `;
      for (let size = 1; size <= text.length; size++) {
        const got = handedOver(text, size, engine);
        // Every element that is not an object, and the audited traces (createUser may be parsed too, when a
        // chunk's end cuts its name).
        const notCreateUser = ([, e]: [number, unknown]) =>
          (e as { trace_name?: unknown } | null)?.trace_name !== "createUser";
        const expected = elements.map((e, i) => [i, e] as [number, unknown]).filter(notCreateUser);
        expect(got.filter(notCreateUser), `chunks of ${size}`).toEqual(expected);
      }
    });

    it("hands over every element that is not an object, whatever JSON value it is (property)", () => {
      fc.assert(
        fc.property(
          fc.array(fc.oneof(fc.jsonValue(), fc.record({ trace_name: fc.constantFrom("login", "x") })), {
            maxLength: 12,
          }),
          fc.integer({ min: 1, max: 64 }),
          (values, size) => {
            const text = JSON.stringify(values);
            const parsed = JSON.parse(text) as unknown[];
            const got = handedOver(text, size, engine);
            const isObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);
            // Objects may be handed over (when their name may be audited) or not; the others always are.
            const handed = new Map(got);
            parsed.forEach((v, i) => {
              if (!isObject(v)) expect(handed.get(i)).toEqual(v);
              else if (handed.has(i)) expect(handed.get(i)).toEqual(v);
            });
            expect(got.every(([i]) => i < parsed.length)).toBe(true);
          },
        ),
        { numRuns: 300 },
      );
    });

    it("never hides a login on corrupted inputs: it reports an error, or every alert a tolerant reader finds", async () => {
      for (let seed = 1; seed <= 200; seed++) {
        const r = rng(seed);
        const traces = Array.from({ length: 3 + Math.floor(r() * 10) }, (_, i) => trace(r, i));
        const bytes = Buffer.from(JSON.stringify(traces));
        // Flip, drop or duplicate one byte.
        const at = Math.floor(r() * bytes.length);
        const op = Math.floor(r() * 3);
        const mutated =
          op === 0
            ? Buffer.concat([
                bytes.subarray(0, at),
                Buffer.from([Math.floor(r() * 128)]),
                bytes.subarray(at + 1),
              ])
            : op === 1
              ? Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1)])
              : Buffer.concat([bytes.subarray(0, at + 1), bytes.subarray(at)]);
        let reference: { traces: number; alerts: string[] } | undefined;
        try {
          reference = fullParse(mutated.toString());
        } catch {
          // Not JSON any more: the full parse fails; the fast path may fail too or read what is intact.
        }
        const got = await fastPath(mutated, () => 1 + Math.floor(r() * 64), engine);
        if (reference) {
          // Still valid JSON (e.g. a changed letter inside a string): the fast path agrees exactly.
          expect({ seed, ...got }).toEqual({ seed, ...reference, error: undefined });
        } else if (got.error === undefined) {
          // Corruption inside an element it did not parse goes unnoticed (the digest hash notices it). Whatever it
          // did parse must still be audited as a full parse of the intact elements would.
          for (const a of got.alerts)
            expect(traces.some((t) => a.startsWith(`${String(t.trace_id)}|`))).toBe(true);
        }
      }
    });
  },
);
