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
