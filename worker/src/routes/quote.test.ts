import { describe, expect, it } from "vitest";
import { queryToInput } from "./quote";

describe("queryToInput", () => {
  it("reads numbers, booleans and nested switches, keeps text as text", () => {
    const q = new URLSearchParams(
      "prompt=1984&width=2048&height=1024&c=0.5&switches.gaussian=false&image.sha256=00ff&format=png",
    );
    expect(queryToInput(q)).toEqual({
      prompt: "1984",
      width: 2048,
      height: 1024,
      c: 0.5,
      switches: { gaussian: false },
      image: { sha256: "00ff" },
      format: "png",
    });
    expect(queryToInput(new URLSearchParams("width=abc"))).toEqual({ width: "abc" });
  });
});
