import { cosineFactors } from "../../pipeline/cosine";
import { expectClose, readF32 } from "../compare";
import type { GoldenCase, TopicRunner } from "../types";

/** cosine_factors: cf, c1, c2, c3 and 1 - c2 per timestep, float32. */
const run: TopicRunner = (c: GoldenCase) => {
  const inp = c.inputs;
  const ts = readF32(inp.timesteps);
  const n = ts.length;
  const out = { cosine_factor: new Float32Array(n), c1: new Float32Array(n), c2: new Float32Array(n) };
  const c3 = new Float32Array(n);
  const oneMinusC2 = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const f = cosineFactors(
      ts[i],
      Number(inp.cosine_scale_1),
      Number(inp.cosine_scale_2),
      Number(inp.cosine_scale_3),
      Number(inp.num_train_timesteps),
    );
    out.cosine_factor[i] = f.cf;
    out.c1[i] = f.c1;
    out.c2[i] = f.c2;
    c3[i] = f.c3;
    oneMinusC2[i] = 1 - f.c2;
  }
  const tol = c.tolerance;
  expectClose("cosine_factor", out.cosine_factor, c.expected.cosine_factor, tol, [n]);
  expectClose("c1", out.c1, c.expected.c1, tol, [n]);
  expectClose("c2", out.c2, c.expected.c2, tol, [n]);
  expectClose("c3", c3, c.expected.c3, tol, [n]);
  expectClose("one_minus_c2", oneMinusC2, c.expected.one_minus_c2, tol, [n]);
};

export default run;
