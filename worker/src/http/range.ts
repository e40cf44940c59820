/**
 * HTTP Range (RFC 9110 §14) for blob downloads: a single byte range is served as 206; several ranges are answered
 * with the whole body (allowed, and mobile image views never ask for several); an unsatisfiable one is 416.
 */
export type RangeRequest =
  | { kind: "none" }
  | { kind: "range"; offset: number; length: number }
  | { kind: "unsatisfiable" };

export function parseRange(header: string | null, size: number): RangeRequest {
  if (!header) return { kind: "none" };
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return { kind: "none" };
  const [, a, b] = m;
  if (a === "" && b === "") return { kind: "none" };
  if (a === "") {
    // Suffix range: the last b bytes.
    const n = Number(b);
    if (n === 0) return { kind: "unsatisfiable" };
    const length = Math.min(n, size);
    return { kind: "range", offset: size - length, length };
  }
  const start = Number(a);
  if (start >= size) return { kind: "unsatisfiable" };
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return { kind: "none" };
  return { kind: "range", offset: start, length: end - start + 1 };
}
