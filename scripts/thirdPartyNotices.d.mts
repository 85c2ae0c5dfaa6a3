/** The notices for the packages a build bundled, read from `metafile`'s inputs under `root`'s node_modules. */
export function thirdPartyNotices(
  root: string,
  metafile: { inputs: Record<string, unknown> },
  bundled: string,
): string;
