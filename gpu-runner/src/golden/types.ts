/** The ../shared/golden file format (see its README). */

export interface GoldenTensor {
  shape: number[];
  dtype: "float32" | "float64" | "uint8" | "int64";
  data: (number | string)[];
}

export interface Tolerance {
  abs: number;
  rel: number;
}

export interface GoldenCase {
  id: string;
  // biome-ignore lint/suspicious/noExplicitAny: golden inputs are free-form JSON per topic
  inputs: any;
  // biome-ignore lint/suspicious/noExplicitAny: golden outputs are free-form JSON per topic
  expected: any;
  tolerance: Tolerance;
}

export interface GoldenFile {
  topic: string;
  semantics: string;
  cases: GoldenCase[];
}

/**
 * A topic runner checks one case against the implementation and throws a `Mismatch`
 * (see compare.ts) describing the first difference; returning normally means the case passed.
 * Each `topics/<topic>.ts` default-exports one.
 */
export type TopicRunner = (c: GoldenCase) => void | Promise<void>;
