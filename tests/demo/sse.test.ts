import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { SseParser, sseMessages } from "./sse";

function parseAll(chunks: string[]) {
  const p = new SseParser();
  return [...chunks.flatMap((c) => p.push(c)), ...p.end()];
}

describe("SseParser", () => {
  it("reads the worker's messages, comments and multi-line data", () => {
    const text =
      ': keep-alive\n\nid: 3\nevent: job\ndata: {"a":1}\n\n' +
      "data: one\ndata:two\n\n" +
      'event: end\r\ndata: {"status":"succeeded"}\r\n\r\n';
    expect(parseAll([text])).toEqual([
      { event: "job", data: '{"a":1}', id: "3" },
      { event: "message", data: "one\ntwo", id: "3" },
      { event: "end", data: '{"status":"succeeded"}', id: "3" },
    ]);
  });

  it("drops a message without data and keeps a field with no colon as empty", () => {
    expect(parseAll(["event: job\n\ndata\n\n"])).toEqual([{ event: "message", data: "", id: null }]);
  });

  it("gives the same messages however the stream is split (CRLF halves included)", () => {
    const message = fc.record({
      event: fc.constantFrom("job", "end", "message"),
      data: fc.array(fc.string({ unit: fc.constantFrom("a", "{", "}", ":", " ", "é", '"') }), {
        minLength: 1,
        maxLength: 3,
      }),
      eol: fc.constantFrom("\n", "\r\n", "\r"),
      comment: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), (msgs, cuts) => {
        const text = msgs
          .map(
            (m) =>
              (m.comment ? `: ping${m.eol}` : "") +
              `event: ${m.event}${m.eol}` +
              m.data.map((d) => `data: ${d}${m.eol}`).join("") +
              m.eol,
          )
          .join("");
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let at = 0;
        for (const p of points) {
          chunks.push(text.slice(at, p));
          at = p;
        }
        chunks.push(text.slice(at));
        const expected = msgs.map((m) => ({ event: m.event, data: m.data.join("\n"), id: null }));
        expect(parseAll(chunks)).toEqual(expected);
        expect(parseAll([text])).toEqual(expected);
      }),
    );
  });

  it("reads a byte stream split inside a UTF-8 character and drops an unfinished message", async () => {
    const bytes = new TextEncoder().encode("data: café\n\ndata: cut");
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 10)); // "data: caf" + the first byte of "é"
        c.enqueue(bytes.slice(10));
        c.close();
      },
    });
    const got = [];
    for await (const m of sseMessages(body)) got.push(m);
    expect(got).toEqual([{ event: "message", data: "café", id: null }]);
  });
});
