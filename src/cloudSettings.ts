import type { CloudCredentials } from "./notify/SmnClient.js";
import type { TopicRef } from "./notify/SmnNotifier.js";

/** A topic given as text: an `urn:smn:` URN, else a name resolved by listing topics. */
export function topicRef(text: string | undefined): TopicRef | undefined {
  if (text === undefined) return undefined;
  return text.startsWith("urn:smn:") ? { urn: text } : { name: text };
}

/** Credentials by the Huawei SDK convention (`HUAWEICLOUD_SDK_*`), when both keys are set. */
export function sdkCredentials(get: (name: string) => string | undefined): CloudCredentials | undefined {
  const ak = get("HUAWEICLOUD_SDK_AK");
  const sk = get("HUAWEICLOUD_SDK_SK");
  if (!ak || !sk) return undefined;
  return {
    accessKeyId: ak,
    secretAccessKey: sk,
    securityToken: get("HUAWEICLOUD_SDK_SECURITY_TOKEN"),
    projectId: get("HUAWEICLOUD_SDK_PROJECT_ID") ?? "",
  };
}

/** What a region id looks like (`ap-southeast-1`, `cn-north-4`): it becomes part of the endpoints' host names. */
export const REGION_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/i;

/**
 * Why `value` cannot be an OBS or SMN endpoint, or undefined when it can: it must parse as an http(s) URL (a port
 * in range, a host) and carry no credentials (those go in HUAWEICLOUD_SDK_AK/SK, and a URL is printed in errors).
 */
export function endpointProblem(value: string): string | undefined {
  let url: URL;
  try {
    // The text itself must be the URL: `http:host` and `https:///host` parse, normalised, yet the text is what
    // the clients are given.
    if (!/^https?:\/\/[^/\s]/i.test(value)) throw new Error("not a URL as written");
    url = new URL(value);
    if (url.port === "0") throw new Error("port 0");
  } catch {
    return "is not an http(s) URL (check its scheme, host and port: 1 to 65535)";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "is not an http(s) URL";
  if (url.username !== "" || url.password !== "")
    return "has credentials in it (remove them from the URL, and set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK)";
  if (url.hostname === "") return "has no host";
  return undefined;
}

/**
 * Why `text` cannot name an SMN topic, or undefined when it can: a URN `urn:smn:<region>:<project_id>:<name>`, or
 * a topic's name (letters, digits, `-` and `_`, starting with a letter or a digit).
 */
export function topicProblem(text: string): string | undefined {
  if (text.startsWith("urn:smn:"))
    return /^urn:smn:[^:\s]+:[^:\s]+:[^:\s]+$/.test(text)
      ? undefined
      : "is not a topic URN: write urn:smn:<region>:<project_id>:<topic name>";
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$/.test(text)
    ? undefined
    : "is not a topic name (letters, digits, - and _) nor a URN (urn:smn:<region>:<project_id>:<topic name>)";
}
