/** Removes the build's own outputs under `dir` (and folders they leave empty); returns how many files went. */
export function cleanBuild(dir: string): number;
