import { describe, expect, it } from "vitest";
import { signUrl, verifySignedUrl } from "./signedUrl";

const SECRET = "s3cret";

describe("signed URLs", () => {
  it("verify until they expire, for their path only", async () => {
    const now = 1_800_000_000_000;
    const url = new URL(await signUrl(SECRET, "https://api.example", "/v1/images/x/files/a.png", 60, now));
    expect(await verifySignedUrl(SECRET, url, now)).toEqual({ ok: true });
    expect(await verifySignedUrl(SECRET, url, now + 59_000)).toEqual({ ok: true });
    expect(await verifySignedUrl(SECRET, url, now + 61_000)).toEqual({ ok: false, reason: "link expired" });
    const other = new URL(url);
    other.pathname = "/v1/images/x/files/b.png";
    expect((await verifySignedUrl(SECRET, other, now)).ok).toBe(false);
    const later = new URL(url);
    later.searchParams.set("exp", String(Number(url.searchParams.get("exp")) + 3600));
    expect((await verifySignedUrl(SECRET, later, now)).ok).toBe(false);
    expect((await verifySignedUrl("another", url, now)).ok).toBe(false);
    expect((await verifySignedUrl(SECRET, new URL("https://api.example/x?exp=1&sig=zz"), now)).ok).toBe(false);
  });
});
