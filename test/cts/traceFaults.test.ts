import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { MAX_FIELD_CHARS, normaliseTrace } from "../../src/cts/trace.js";
import { AllowList } from "../../src/detect/AllowList.js";
import { AuditRules, DEFAULT_EVENTS } from "../../src/detect/AuditRules.js";
import { auditObject } from "../../src/parse/auditObject.js";

const rules = new AuditRules(
  [...DEFAULT_EVENTS],
  AllowList.parse([{ value: "192.0.2.0/24", origin: "test" }]),
);
const huge = "h".repeat(5 * 1024 * 1024);

/** One field of a login set to a bad value, as JSON text (so that keys such as __proto__ stay own keys). */
const faults: Array<[string, string]> = [
  ["time past the JS date range", '"time": 1e20'],
  ["time as a numeric string past the range", '"time": "99999999999999999999"'],
  ["time as an object", '"time": {"ms": 1}'],
  ["time negative", '"time": -5'],
  ["record_time past the range with no time", '"record_time": 1e300'],
  ["user as an object", '"user": {"name": "mallory", "domain": null}'],
  ["user as an array", '"user": ["mallory"]'],
  ["user as a number", '"user": 42'],
  ["user as null", '"user": null'],
  ["user as a JSON string of null", '"user": "null"'],
  ["user with nested nulls", '"user": {"name": null, "id": null, "domain": {"name": null, "id": null}}'],
  ["user with a __proto__ key", '"user": {"__proto__": {"name": "admin"}}'],
  ["user as a JSON string with a __proto__ key", '"user": "{\\"__proto__\\":{\\"name\\":\\"admin\\"}}"'],
  ["user with a huge name", `"user": {"name": "${huge}"}`],
  ["code as an object", '"code": {"x": 1}'],
  ["code as an array", '"code": [302]'],
  ["source_ip as a number", '"source_ip": 3405803783'],
  ["source_ip as an array", '"source_ip": ["198.51.100.7"]'],
  ["source_ip as an object", '"source_ip": {"ip": "192.0.2.1"}'],
  ["source_ip null", '"source_ip": null'],
  ["source_ip huge", `"source_ip": "${huge}"`],
  ["trace_id huge", `"trace_id": "${huge}"`],
  ["service_type as an object with toString", '"service_type": {"toString": 1, "valueOf": 2}'],
  ["service_type as a number", '"service_type": 7'],
  ["region as an object", '"region": {"name": "x"}'],
  ["region huge", `"region": "${huge}"`],
  ["a __proto__ key at the top", '"__proto__": {"source_ip": "192.0.2.1"}'],
  ["a constructor key", '"constructor": {"name": "x"}'],
];

const good = (id: string) =>
  `{"trace_id":"${id}","trace_name":"login","service_type":"IAM","source_ip":"203.0.113.9","time":1721358527589}`;
const bad = (f: string) =>
  `{"trace_id":"bad","trace_name":"login","source_ip":"203.0.113.7","time":1721358527589,${f}}`;

describe("a bad field of one trace never costs another trace", () => {
  it.each(faults)("normaliseTrace takes %s", (_name, f) => {
    const t = normaliseTrace(JSON.parse(bad(f)) as Record<string, unknown>);
    expect(t.time === undefined || (t.time > 0 && t.time <= 8.64e15)).toBe(true);
    for (const text of [
      t.traceId,
      t.sourceIp,
      t.code,
      t.user.name,
      t.user.id,
      t.user.domain,
      t.user.domainId,
    ])
      expect(text.length).toBeLessThanOrEqual(MAX_FIELD_CHARS + 32);
    // Inherited or __proto__ values are not fields of the trace.
    expect(t.user.name).not.toBe("admin");
    expect(t.sourceIp).not.toBe("192.0.2.1");
    expect(() => rules.audit(t.raw)).not.toThrow();
  });

  describe.each([
    ["array, whole buffer", "array", "buffer"],
    ["array, streamed", "array", "stream"],
    ["{traces}, streamed", "traces", "stream"],
    ["NDJSON, whole buffer", "ndjson", "buffer"],
    ["NDJSON, streamed", "ndjson", "stream"],
  ])("%s", (_name, shape, path) => {
    it.each(faults)("%s: the login with it alerts, and every login after it", async (_f, f) => {
      const items = [good("before"), bad(f), good("after1"), good("after2")];
      const text =
        shape === "array"
          ? `[${items.join(",")}]`
          : shape === "traces"
            ? `{"traces":[${items.join(",")}]}`
            : items.join("\n") + "\n";
      const bytes = gzipSync(text);
      const options = {
        hashAlgorithms: ["md5"],
        maxDecompressedBytes: 1024 ** 3,
        bufferLimit: path === "buffer" ? 64 * 1024 * 1024 : 0,
      };
      const audited = await auditObject(
        path === "buffer" ? bytes : Readable.from([bytes.subarray(0, 100), bytes.subarray(100)]),
        rules,
        options,
      );
      expect(audited.result.error).toBeUndefined();
      expect(audited.traceErrors).toBeUndefined();
      expect(audited.result.traces).toBe(4);
      const alerts = audited.matches.flatMap((m) => m.alerts);
      expect(alerts.map((a) => (a.traceId.startsWith("hhh") ? "bad" : a.traceId.slice(0, 6)))).toEqual([
        "before",
        "bad",
        "after1",
        "after2",
      ]);
      for (const a of alerts) {
        expect(a.time === "" || !Number.isNaN(Date.parse(a.time))).toBe(true);
        expect(a.sourceIp.length).toBeLessThanOrEqual(MAX_FIELD_CHARS + 32);
      }
      for (const m of audited.matches) expect((m.region ?? "").length).toBeLessThanOrEqual(MAX_FIELD_CHARS);
    });
  });
});
