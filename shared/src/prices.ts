/**
 * The price table, shared by the worker (quotes, reservations, captures) and the runner (reports).
 * Money is integer microdollars everywhere: never a float.
 *
 * A render is priced per output megapixel of each phase: phases computed by a runner at `perMegapixelComputed`,
 * phases served from cache at `perMegapixelCached`, with a minimum per render. A failed job costs nothing;
 * a cancelled one pays for the phases it completed.
 */
import type { RenderPhases } from "./request";

export const PRICE_TABLE = {
  currency: "USD",
  unit: "microdollars",
  /** $0.004 per megapixel computed on a GPU. */
  perMegapixelComputed: 4_000,
  /** $0.0004 per megapixel served from cache. */
  perMegapixelCached: 400,
  /** Per render (a fully cached re-render is still a request). */
  minimum: 1_000,
} as const;

export interface QuoteLine {
  phase: number;
  width: number;
  height: number;
  megapixels: number;
  cached: boolean;
  amount: number;
}

export interface Quote {
  price: number;
  currency: string;
  unit: string;
  lines: QuoteLine[];
}

/** Megapixels rounded to 1e-6 so that the amount is the same in every runtime. */
function megapixels(w: number, h: number): number {
  return Math.round(((w * h) / 1e6) * 1e6) / 1e6;
}

/**
 * The price of a render (its phases and sizes: request.ts renderPhases) given the phases already in cache. `phases`
 * restricts the lines to the phases actually completed (a cancel pays for those only).
 */
export function quote(render: RenderPhases, cachedPhases: readonly number[], phases?: readonly number[]): Quote {
  const lines: QuoteLine[] = [];
  for (const phase of render.scales) {
    if (phases && !phases.includes(phase)) continue;
    const { width, height } = render.sizes[String(phase)];
    const mp = megapixels(width, height);
    const cached = cachedPhases.includes(phase);
    const rate = cached ? PRICE_TABLE.perMegapixelCached : PRICE_TABLE.perMegapixelComputed;
    lines.push({ phase, width, height, megapixels: mp, cached, amount: Math.ceil(mp * rate) });
  }
  const sum = lines.reduce((a, l) => a + l.amount, 0);
  const price = lines.length === 0 ? 0 : Math.max(PRICE_TABLE.minimum, sum);
  return { price, currency: PRICE_TABLE.currency, unit: PRICE_TABLE.unit, lines };
}
