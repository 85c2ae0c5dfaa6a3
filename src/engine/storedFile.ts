import type { Alert } from "../detect/types.js";
import type { FileRecord } from "../report/types.js";
import type { Slot } from "./scanObject.js";
import { compactItem, compactRecord } from "./keyRefs.js";

/** A settled file: what writing it and counting it need (its window is applied again on replay). */
export interface StoredFile {
  record: FileRecord;
  alerts?: Alert[];
  matchedTimes?: Array<number | null>;
  overdueChain?: string;
}

export function storedFile(s: Slot, index?: ReadonlyMap<string, number>): StoredFile {
  return {
    record: index ? compactRecord(s.record, index) : s.record,
    ...(s.allAlerts.length > 0
      ? { alerts: index ? s.allAlerts.map((a) => compactItem(a, index)) : s.allAlerts }
      : {}),
    ...(s.record.matched !== undefined ? { matchedTimes: s.matchedTimes } : {}),
    ...(s.overdueChain !== undefined ? { overdueChain: s.overdueChain } : {}),
  };
}
