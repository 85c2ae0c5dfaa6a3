import type { Alert } from "../detect/types.js";
import type { GeoDataInfo, GeoInfo, GeoLookup } from "./GeoLookup.js";

/** The lookup's answer as alert fields (`country`, `asn`, `asOrg`, `geoNote`). */
export function geoFields(info: GeoInfo): Pick<Alert, "country" | "asn" | "asOrg" | "geoNote"> {
  return {
    country: info.country,
    ...(info.asn === undefined ? {} : { asn: info.asn }),
    asOrg: info.asOrg,
    ...(info.note ? { geoNote: info.note } : {}),
  };
}

/**
 * Gives every alert its address's country and network (DESIGN "Enrichment"). The engine calls it once on the run's
 * alerts, before the digest and the report's tail are built: a lookup per alert (cached per address), never per
 * trace. An alert that already carries a country (set by `new-country`, or kept from an earlier run) keeps it.
 */
export function enrichAlerts(alerts: readonly Alert[], lookup: GeoLookup): Alert[] {
  return alerts.map((a) => (a.country !== undefined ? a : withPlace(a, lookup.lookup(a.sourceIp))));
}

/**
 * `{ ...a, ...geoFields(info) }`: the same keys, in the same order, in one object. Copied with Object.assign, not a
 * spread: V8 builds a spread followed by more properties slowly (several microseconds an alert, measured ten times
 * Object.assign's), and a run has tens of thousands of alerts. The two differ only for an own `__proto__` key
 * (Object.assign would set the prototype), which no alert has; one that did (a tampered ledger) is spread.
 */
function withPlace(a: Alert, info: GeoInfo): Alert {
  const out: Alert = Object.hasOwn(a, "__proto__") ? { ...a } : Object.assign({}, a);
  out.country = info.country;
  if (info.asn !== undefined) out.asn = info.asn;
  out.asOrg = info.asOrg;
  if (info.note) out.geoNote = info.note;
  return out;
}

/** One line naming where an address is, for the digest and the text report: `US, AS15169 Google LLC`. */
export function describePlace(a: Pick<Alert, "country" | "asn" | "asOrg" | "geoNote">): string {
  const network = a.asn === undefined ? "" : `AS${a.asn}${a.asOrg ? ` ${a.asOrg}` : ""}`;
  const known = [a.country ?? "", network].filter((p) => p !== "");
  if (known.length === 0) return a.geoNote ?? "";
  return a.geoNote && known.length < 2 ? `${known.join(", ")}; ${a.geoNote}` : known.join(", ");
}

/** The attribution line a digest ends with when it shows looked-up places (the ASN data is CC BY 4.0). */
export function geoAttribution(data: readonly GeoDataInfo[]): string {
  return data.map((d) => `${d.attribution} (${d.source})`).join("; ");
}
