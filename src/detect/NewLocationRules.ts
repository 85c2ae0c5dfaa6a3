import { AllowList } from "./AllowList.js";
import type { LoginAttempt } from "./LoginAttempt.js";
import {
  baselineRetentionMs,
  DEFAULT_LOCATION_SETTINGS,
  observeLogin,
  type LocationBaseline,
  type LocationSettings,
} from "./LocationBaseline.js";
import type { Alert, FileIntegrity, RuleId } from "./types.js";

type LocationRule = Extract<RuleId, "new-country" | "new-asn">;
import { geoFields } from "../enrich/enrichAlerts.js";
import type { GeoLookup } from "../enrich/GeoLookup.js";
import type { StoredBaseline } from "../state/types.js";

/** A login as the location rules read it: a {@link LoginAttempt}, with the user id and file verdict when known. */
export type LocationLogin = LoginAttempt & { userId?: string; integrity?: FileIntegrity };

/** The rules file's `knownNetworks` entries: addresses and ASNs that are never "new" (VPN egress, satellite links). */
export interface KnownNetwork {
  cidrs?: readonly string[];
  asns?: readonly number[];
}

/** Where baselines are kept between runs: the ledger's `getBaselines`/`putBaselines` (through the run's policy). */
export interface BaselineStore {
  get(userKeys: readonly string[]): Promise<Map<string, LocationBaseline>>;
  put(baselines: readonly StoredBaseline[]): Promise<void>;
}

/**
 * The `new-country` and `new-asn` rules (DESIGN "Detection") over a run's logins: only successful logins count,
 * each trace once; they are taken **in time order (then trace id)** whatever order files and units were read in,
 * so the same logins give the same alerts and the same baselines every time. Call {@link evaluate} once per run
 * with every successful login of the run (not only the alerting ones): baselines learn from all of them.
 *
 * Without a store the baselines live for the run only (a 30-day backfill still learns within itself).
 */
export class NewLocationRules {
  private readonly known: AllowList;
  private readonly knownAsns: ReadonlySet<number>;

  /**
   * @throws ConfigError when a `knownNetworks` CIDR is not one (it names the entry)
   */
  constructor(
    private readonly lookup: GeoLookup,
    private readonly settings: LocationSettings = DEFAULT_LOCATION_SETTINGS,
    knownNetworks: readonly KnownNetwork[] = [],
    private readonly store?: BaselineStore,
    private readonly now: () => number = Date.now,
  ) {
    this.known = AllowList.parse(
      knownNetworks.flatMap((n, i) =>
        (n.cidrs ?? []).map((value, j) => ({ value, origin: `knownNetworks[${i}].cidrs[${j}]` })),
      ),
    );
    this.knownAsns = new Set(knownNetworks.flatMap((n) => n.asns ?? []));
  }

  /** Whether either rule is on (off: the engine need not collect logins). */
  get enabled(): boolean {
    return this.settings["new-country"].enabled || this.settings["new-asn"].enabled;
  }

  /** Alerts for the logins from a new country or network, after updating (and storing) the users' baselines. */
  async evaluate(logins: readonly LocationLogin[]): Promise<Alert[]> {
    if (!this.enabled) return [];
    const seen = new Set<string>();
    const ordered = logins
      .filter((l) => l.outcome === "success" && Number.isFinite(l.time))
      .sort((a, b) => a.time - b.time || (a.traceId < b.traceId ? -1 : a.traceId > b.traceId ? 1 : 0))
      // CTS delivers at least once: the same trace in two files is one login.
      .filter((l) => !l.traceId || (!seen.has(l.traceId) && seen.add(l.traceId) !== undefined));
    if (ordered.length === 0) return [];
    const users = [...new Set(ordered.map((l) => l.userKey))];
    const baselines = this.store ? await this.store.get(users) : new Map<string, LocationBaseline>();
    const changed = new Set<string>();
    const alerts: Alert[] = [];
    for (const login of ordered) {
      const geo = this.lookup.lookup(login.sourceIp);
      const known =
        this.known.check(login.sourceIp) === "allowed" ||
        (geo.asn !== undefined && this.knownAsns.has(geo.asn));
      const verdict = observeLogin(
        baselines.get(login.userKey),
        { time: login.time, country: geo.country, ...(geo.asn === undefined ? {} : { asn: geo.asn }), known },
        this.settings,
      );
      baselines.set(login.userKey, verdict.baseline);
      changed.add(login.userKey);
      const raise = (rule: LocationRule) => alerts.push(this.alert(login, rule, geoFields(geo)));
      if (verdict.newCountry) raise("new-country");
      if (verdict.newAsn) raise("new-asn");
    }
    if (this.store) {
      const retention = baselineRetentionMs(this.settings);
      // Kept for the retention after the later of the user's last login and now: a replay of last year's archive
      // builds baselines from old logins, and its next batch must still find them (the 90 days of the rules are
      // judged against each login's own time, in observeLogin).
      const now = this.now();
      await this.store.put(
        [...changed].map((userKey) => {
          const baseline = baselines.get(userKey)!;
          return { userKey, baseline, expiresAt: Math.max(baseline.lastLogin, now) + retention };
        }),
      );
    }
    return alerts;
  }

  private alert(login: LocationLogin, rule: LocationRule, geo: Partial<Alert>): Alert {
    return {
      traceId: login.traceId,
      traceName: login.traceName,
      user: login.user,
      userId: login.userId ?? "",
      domain: login.domain,
      sourceIp: login.sourceIp,
      time: new Date(login.time).toISOString(),
      region: login.region,
      object: login.object,
      integrity: login.integrity ?? "unverified",
      reason: "new-location",
      rule,
      severity: this.settings[rule].severity,
      ...geo,
    };
  }
}
