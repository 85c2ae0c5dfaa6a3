/** The engine's public entry: `run(options, deps)`. The pipeline's steps live in `engine/`. */
export { run } from "./engine/run.js";
export type { EngineOptions, Progress, RunDeps } from "./engine/types.js";
export type { Config } from "./config.js";
export type { Report } from "./report/types.js";
