import { describe, expect, it } from "vitest";
import { NO_QUIRKS, REFERENCE_QUIRK_NAMES, REFERENCE_QUIRKS, referenceQuirks } from "./referenceQuirks";

describe("referenceQuirks", () => {
  it("turns every named quirk on with referenceCompat and off by default", () => {
    expect(Object.keys(REFERENCE_QUIRKS).sort()).toEqual([...REFERENCE_QUIRK_NAMES].sort());
    for (const n of REFERENCE_QUIRK_NAMES) {
      expect(referenceQuirks(true)[n]).toBe(true);
      expect(referenceQuirks(false)[n]).toBe(false);
    }
    expect(referenceQuirks(false)).toBe(NO_QUIRKS);
    expect(Object.isFrozen(REFERENCE_QUIRKS)).toBe(true);
  });
});
