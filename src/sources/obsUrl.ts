/** Parses `obs://bucket[/prefix]` (bucket names as OBS allows them: 3-63 lower-case letters, digits, `.`, `-`). */
export function parseObsUrl(url: string): { bucket: string; prefix: string } | undefined {
  const m = /^obs:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  return m ? { bucket: m[1]!, prefix: m[2] ?? "" } : undefined;
}
