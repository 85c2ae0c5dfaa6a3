import type { Slot } from "./scanObject.js";
import type { Progress } from "./types.js";

/** Counts objects as the listing streams and as they complete, for a progress bar. */
export type ProgressTracker = ReturnType<typeof progressTracker>;

/** Progress of a run: totals grow as units are listed; `finish` marks the listing complete. */
export function progressTracker(onProgress: ((p: Progress) => void) | undefined) {
  const p: Progress = {
    objectsDone: 0,
    objectsTotal: 0,
    bytesDone: 0,
    bytesTotal: 0,
    alerts: 0,
    listed: false,
  };
  return {
    listed: (slot: Slot) => {
      p.objectsTotal++;
      p.bytesTotal += slot.object.size;
    },
    completed: (slot: Slot) => {
      p.objectsDone++;
      p.bytesDone += slot.object.size;
      p.alerts += slot.allAlerts.length;
      onProgress?.({ ...p });
    },
    finish: () => {
      p.listed = true;
      onProgress?.({ ...p });
    },
  };
}
