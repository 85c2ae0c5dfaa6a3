import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { CloudConfig, NotifyTarget } from "./config.js";
import { ConfigError, describeError } from "./errors.js";
import { FileNotifier } from "./notify/FileNotifier.js";
import { digestDocument, StreamNotifier } from "./notify/StreamNotifier.js";
import type { AlertDigest, Notifier } from "./notify/types.js";
import { parseObsUrl } from "./sources/obsUrl.js";
import { LocalSource } from "./sources/LocalSource.js";
import type { ObjectSource, SourceObject } from "./sources/types.js";
import type { Ledger } from "./state/types.js";

// The cloud adapters are imported when a run needs them: the OBS and SMN SDKs take a fifth of a second to load,
// which a scan of a local copy should not pay.
// parseCli (and functionConfig for the function) has checked that what an obs:// location or SMN needs is set:
// the `!` below rest on that.

/** What the OBS adapters connect with, from the validated cloud settings. */
export function obsConnection(cloud: CloudConfig) {
  const { obsEndpoint, credentials } = cloud;
  return {
    endpoint: obsEndpoint!,
    accessKeyId: credentials!.accessKeyId,
    secretAccessKey: credentials!.secretAccessKey,
    securityToken: credentials!.securityToken,
    timeoutSeconds: cloud.timeoutSeconds,
  };
}

/**
 * One source per location: OBS prefixes (`obs://`, listed within `window`, or only the objects `only` names)
 * and local directories or files. A missing local path is a ConfigError (exit 2).
 */
export async function buildSources(
  locations: readonly string[],
  cloud: CloudConfig,
  window: { since: Date | undefined; until: Date | undefined },
  only?: SourceObject[],
): Promise<ObjectSource[]> {
  const sources: ObjectSource[] = [];
  const problems: string[] = [];
  for (const location of locations) {
    if (location.startsWith("obs://")) {
      const { ObsSource } = await import("./sources/ObsSource.js");
      sources.push(
        new ObsSource(location, {
          ...obsConnection(cloud),
          window: { since: window.since, until: window.until },
          only,
        }),
      );
      continue;
    }
    try {
      sources.push(await LocalSource.open(location));
    } catch (err) {
      problems.push(`<source> ${describeError(err)}: give an existing directory or file`);
    }
  }
  if (problems.length) throw new ConfigError(problems);
  return sources;
}

/** The notifier a NotifyTarget names; undefined for `none`. */
export async function buildNotifier(
  notify: NotifyTarget,
  cloud: CloudConfig,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<Notifier | undefined> {
  switch (notify.kind) {
    case "none":
      return undefined;
    case "stdout":
      return new StreamNotifier("stdout", stdout as never);
    case "file":
      return new FileNotifier(notify.path);
    case "smn": {
      const { smnEndpoint, credentials, smnTopic } = cloud;
      const [{ SmnClient }, { SmnNotifier }] = await Promise.all([
        import("./notify/SmnClient.js"),
        import("./notify/SmnNotifier.js"),
      ]);
      return new SmnNotifier(
        new SmnClient(smnEndpoint!, credentials!, { timeoutMs: cloud.timeoutSeconds * 1000 }),
        smnTopic!,
      );
    }
  }
}

/**
 * The ledger `--state` (or CTS_AUDIT_STATE) names: an embedded database in a local file, or marker objects under
 * an OBS prefix (the function's). Undefined for none.
 */
export async function buildLedger(
  location: string | undefined,
  cloud: CloudConfig,
  retentionMs: number,
): Promise<Ledger | undefined> {
  if (!location) return undefined;
  const obs = parseObsUrl(location);
  if (obs) {
    const [{ ObsBucket }, { ObsLedger }] = await Promise.all([
      import("./sources/ObsBucket.js"),
      import("./state/ObsLedger.js"),
    ]);
    return new ObsLedger(new ObsBucket(obs.bucket, obsConnection(cloud)), obs.prefix);
  }
  // Loaded only for a local ledger: the database's native module is for the command line, not the function.
  const { LocalLedger } = await import("./state/LocalLedger.js");
  return new LocalLedger(location, { retentionMs });
}

/**
 * The text of a small OBS object (the function's rules file, `obs://bucket/key`); undefined when it does not
 * exist. OBS errors are thrown as they are (a SourceError naming the bucket and key).
 */
export async function readObsText(location: string, cloud: CloudConfig): Promise<string | undefined> {
  const obs = parseObsUrl(location);
  if (!obs) return undefined;
  const { ObsBucket } = await import("./sources/ObsBucket.js");
  const bucket = new ObsBucket(obs.bucket, obsConnection(cloud));
  try {
    return await bucket.getText(obs.prefix);
  } finally {
    bucket.close();
  }
}

/** Keeps a digest that could not be sent as a text file in `dir`; returns its path. */
export async function saveUnsentDigest(dir: string, digest: AlertDigest): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `cts-audit-unsent-${new Date().toISOString().replace(/[:.]/g, "-")}.txt`);
  await writeFile(file, digestDocument(digest), { encoding: "utf8", flag: "wx" });
  return file;
}
