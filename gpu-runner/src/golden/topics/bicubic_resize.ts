import { bicubicResize } from "../../pipeline/tensor/bicubic";
import { resizeNearestU8 } from "../../pipeline/tensor/nearest";
import { expectClose, expectExact, Mismatch, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/** bicubic_resize: torch bicubic (align_corners False) of NCHW float32, and cv2 INTER_NEAREST of uint8 masks. */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  if (inp.kind === "bicubic") {
    const [n, ch, inH, inW] = inp.x.shape as number[];
    const [outH, outW] = (inp.size as number[]).map(Number);
    const y = bicubicResize(readF32(inp.x), n * ch, inH, inW, outH, outW);
    expectClose("y", y, c.expected.y, c.tolerance, [n, ch, outH, outW]);
    return;
  }
  if (inp.kind === "nearest_cv2") {
    const [inH, inW] = inp.mask.shape as number[];
    const outW = Number(inp.dsize_width);
    const outH = Number(inp.dsize_height);
    const mask = Uint8Array.from((inp.mask.data as (number | string)[]).map(Number));
    const y = resizeNearestU8(mask, inH, inW, outH, outW);
    expectExact("y.shape", [outH, outW], c.expected.y.shape);
    expectExact("y", y, c.expected.y);
    return;
  }
  throw new Mismatch(`unknown kind ${inp.kind}`);
};

export default run;
