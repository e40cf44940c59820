/**
 * Where a webhook may be sent: HTTPS to a host whose every address is public. IP literals are classified directly;
 * host names are resolved over DNS-over-HTTPS (JSON API) and every A/AAAA answer is classified, at submission and
 * again before each delivery (a name may be re-pointed at an internal address after it was accepted). Loopback is
 * allowed, over plain HTTP too, only when the configuration says so (local development: LOCAL_DEV=true).
 */

export type AddressClass = "public" | "loopback" | "private" | "link-local" | "reserved";

export interface UrlPolicy {
  allowLoopback: boolean;
  /** DNS-over-HTTPS endpoint answering `?name=&type=` with application/dns-json. */
  dnsUrl: string;
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

function v4Class(a: number[]): AddressClass {
  const [x, y] = a;
  if (x === 127) return "loopback";
  if (x === 10 || (x === 172 && y >= 16 && y <= 31) || (x === 192 && y === 168)) return "private";
  if (x === 169 && y === 254) return "link-local";
  // this network, shared address space (CGNAT), IETF protocol assignments, multicast, reserved, broadcast
  if (x === 0 || (x === 100 && y >= 64 && y <= 127) || (x === 192 && y === 0 && a[2] === 0) || x >= 224) {
    return "reserved";
  }
  return "public";
}

function parseV4(s: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const a = m.slice(1).map(Number);
  return a.every((n) => n <= 255) ? a : null;
}

/** Eight 16-bit groups of an IPv6 address (a dotted IPv4 tail allowed), or null. */
function parseV6(s: string): number[] | null {
  let text = s.toLowerCase();
  const tail = /(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text);
  if (tail) {
    const p = parseV4(tail[1]);
    if (!p) return null;
    text = `${text.slice(0, -tail[1].length)}${((p[0] << 8) | p[1]).toString(16)}:${((p[2] << 8) | p[3]).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const part = (h: string) => (h === "" ? [] : h.split(":"));
  const head = part(halves[0]);
  const rest = halves.length === 2 ? part(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 && fill < 1) return null;
  const groups = halves.length === 2 ? [...head, ...Array<string>(fill).fill("0"), ...rest] : head;
  if (groups.length !== 8 || !groups.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return groups.map((g) => Number.parseInt(g, 16));
}

function v6Class(g: number[]): AddressClass {
  const zeroUntil = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUntil(7) && g[7] === 1) return "loopback";
  if (zeroUntil(8)) return "reserved";
  const embedded = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255];
  if (zeroUntil(5) && g[5] === 0xffff) return v4Class(embedded(g[6], g[7])); // IPv4-mapped
  if (g[0] === 0x64 && g[1] === 0xff9b) return v4Class(embedded(g[6], g[7])); // NAT64
  if (g[0] === 0x2002) return v4Class(embedded(g[1], g[2])); // 6to4
  if ((g[0] & 0xfe00) === 0xfc00) return "private"; // unique local
  if ((g[0] & 0xffc0) === 0xfe80) return "link-local";
  if ((g[0] & 0xff00) === 0xff00 || (g[0] === 0x2001 && g[1] === 0x0db8)) return "reserved"; // multicast, docs
  return "public";
}

/** The class of an IP literal, or null when `host` is not one. */
export function addressClass(host: string): AddressClass | null {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  const v4 = parseV4(bare);
  if (v4) return v4Class(v4);
  const v6 = bare.includes(":") ? parseV6(bare) : null;
  return v6 ? v6Class(v6) : null;
}

interface DohAnswer {
  Status?: number;
  Answer?: { type: number; data: string }[];
}

/** Every A and AAAA address of `name` (CNAMEs followed by the resolver). */
async function resolve(name: string, dnsUrl: string): Promise<string[]> {
  const out: string[] = [];
  for (const type of ["A", "AAAA"]) {
    const url = `${dnsUrl}?name=${encodeURIComponent(name)}&type=${type}`;
    const res = await fetch(url, { headers: { accept: "application/dns-json" }, signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`DNS lookup answered HTTP ${res.status}`);
    const body = (await res.json()) as DohAnswer;
    for (const a of body.Answer ?? []) if (a.type === 1 || a.type === 28) out.push(a.data);
  }
  return out;
}

function refusal(cls: AddressClass, what: string, policy: UrlPolicy): string | null {
  if (cls === "public") return null;
  if (cls === "loopback" && policy.allowLoopback) return null;
  return `${what} is a ${cls} address; webhooks go to public hosts only`;
}

/** Whether a webhook may be delivered to `raw` now (see the module comment). */
export async function checkWebhookUrl(raw: string, policy: UrlPolicy): Promise<UrlCheck> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "not a URL" };
  }
  if (url.username || url.password) return { ok: false, reason: "a webhook URL must not carry credentials" };
  const host = url.hostname.toLowerCase();
  const literal = addressClass(host);
  const isLocalName = host === "localhost" || host.endsWith(".localhost");
  const loopback = literal === "loopback" || isLocalName;
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback && policy.allowLoopback)) {
    return { ok: false, reason: "a webhook URL must use https" };
  }
  if (isLocalName) {
    const why = refusal("loopback", host, policy);
    return why ? { ok: false, reason: why } : { ok: true, url };
  }
  if (literal) {
    const why = refusal(literal, host, policy);
    return why ? { ok: false, reason: why } : { ok: true, url };
  }
  let addresses: string[];
  try {
    addresses = await resolve(host, policy.dnsUrl);
  } catch (e) {
    return { ok: false, reason: `${host} could not be resolved: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (addresses.length === 0) return { ok: false, reason: `${host} does not resolve` };
  for (const a of addresses) {
    const why = refusal(addressClass(a) ?? "reserved", `${host} resolves to ${a}, which`, policy);
    if (why) return { ok: false, reason: why };
  }
  return { ok: true, url };
}
