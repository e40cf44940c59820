const f = Math.fround;

/** The branch weights of the c2 blend, as float32 like the reference's tensors. */
export function branchWeights(c2: number): { local: number; global: number; total: number } {
  const local = f(1 - c2);
  const global = f(c2);
  return { local, global, total: f(local + global) };
}
