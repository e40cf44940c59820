import { describe, expect, it } from "vitest";
import { fromZodError } from "./problem";
import { GenerationRequestSchema, resolveRequest } from "./request";
import { normalizeText, textProblem } from "./text";

const ok = { width: 1024, height: 1024 };

describe("prompt text", () => {
  it.each([
    ["a\u0000cat", "U+0000", 1],
    ["cat \u0007", "U+0007", 4],
    ["\u007f", "U+007F", 0],
    ["caf\u00e9 \u0085", "U+0085", 5],
    ["a\ud800b", "U+D800", 1],
    ["\udc00", "U+DC00", 0],
    ["\u{1F431}\u0001", "U+0001", 1], // an astral character counts as one
  ])("refuses %j naming %s at position %i", (prompt, cp, position) => {
    const why = textProblem(prompt);
    expect(why).toContain(cp);
    expect(why).toContain(`position ${position}`);
    const r = GenerationRequestSchema.safeParse({ ...ok, prompt });
    expect(r.success).toBe(false);
    const p = fromZodError(r.error!);
    expect(p.status).toBe(422);
    expect(p.errors).toEqual([{ path: "prompt", message: why }]);
  });

  it("checks the negative prompt too, by its own name", () => {
    const r = GenerationRequestSchema.safeParse({ ...ok, prompt: "a cat", negativePrompt: "ugly\u009b" });
    expect(r.success).toBe(false);
    expect(fromZodError(r.error!).errors?.[0]).toMatchObject({ path: "negativePrompt" });
  });

  it("positions count characters of the NFC form", () => {
    // "e" + combining acute is one character in NFC.
    expect(textProblem("e\u0301\u0000")).toContain("position 1");
  });

  it("normalises to NFC and folds tabs and line breaks to spaces", () => {
    expect(textProblem("a cat\ton the\r\nlawn")).toBeNull();
    const r = resolveRequest({ ...ok, prompt: "Cafe\u0301\non\tthe lawn", negativePrompt: "blurry\nugly", seed: 1 });
    expect(r.prompt).toBe("Caf\u00e9 on the lawn");
    expect(r.negativePrompt).toBe("blurry ugly");
    expect(normalizeText("\u212b")).toBe("\u00c5");
    // Letters, emoji and other scripts are text.
    expect(textProblem("猫と犬 🐱🐶 — über")).toBeNull();
  });
});
