import { describe, expect, it } from "vitest";
import { addressClass, checkWebhookUrl } from "./address";

describe("addressClass", () => {
  it("classifies IPv4 and IPv6 literals, embedded IPv4 included", () => {
    const cases: [string, string | null][] = [
      ["127.0.0.1", "loopback"],
      ["127.9.9.9", "loopback"],
      ["10.1.2.3", "private"],
      ["172.16.0.1", "private"],
      ["172.31.255.255", "private"],
      ["172.32.0.1", "public"],
      ["192.168.1.1", "private"],
      ["169.254.169.254", "link-local"],
      ["100.64.0.1", "reserved"],
      ["0.0.0.0", "reserved"],
      ["224.0.0.1", "reserved"],
      ["8.8.8.8", "public"],
      ["[::1]", "loopback"],
      ["::", "reserved"],
      ["fd00::1", "private"],
      ["fc12:3456::9", "private"],
      ["fe80::1", "link-local"],
      ["::ffff:10.0.0.1", "private"],
      ["[::ffff:7f00:1]", "loopback"],
      ["64:ff9b::a9fe:a9fe", "link-local"],
      ["2002:c0a8:0101::1", "private"],
      ["2606:4700::1111", "public"],
      ["example.com", null],
      ["1.2.3", null],
      ["1:2:3:4:5:6:7:8:9", null],
    ];
    for (const [host, cls] of cases) expect(addressClass(host), host).toBe(cls);
  });
});

describe("checkWebhookUrl without DNS", () => {
  const prod = { allowLoopback: false, dnsUrl: "http://127.0.0.1:9/unused" };
  const dev = { ...prod, allowLoopback: true };
  it("refuses non-https, credentials and internal literals in production", async () => {
    for (const url of [
      "http://8.8.8.8/hook",
      "https://user:pw@8.8.8.8/hook",
      "https://127.0.0.1/hook",
      "https://localhost/hook",
      "https://api.localhost/hook",
      "https://10.0.0.8/hook",
      "https://[fd00::1]/hook",
      "https://169.254.169.254/latest/meta-data",
      "https://2130706433/hook",
    ]) {
      expect((await checkWebhookUrl(url, prod)).ok, url).toBe(false);
    }
    expect((await checkWebhookUrl("https://8.8.8.8/hook", prod)).ok).toBe(true);
  });
  it("allows loopback, even over http, only in the dev configuration; private ranges never", async () => {
    expect((await checkWebhookUrl("http://127.0.0.1:8123/hook", dev)).ok).toBe(true);
    expect((await checkWebhookUrl("http://localhost:8123/hook", dev)).ok).toBe(true);
    expect((await checkWebhookUrl("http://10.0.0.8/hook", dev)).ok).toBe(false);
    expect((await checkWebhookUrl("http://8.8.8.8/hook", dev)).ok).toBe(false);
    const r = await checkWebhookUrl("https://192.168.0.2/x", dev);
    expect(r).toEqual({ ok: false, reason: expect.stringContaining("private") });
  });
});
