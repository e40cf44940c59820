/**
 * A Server-Sent Events reader (the subset the worker sends: `id`, `event`, `data`, comments), incremental so that a
 * message split across network chunks is reassembled. Follows the WHATWG parsing rules for these fields: lines end
 * with LF, CRLF or CR; one leading space after the colon is dropped; `data` lines join with LF; a blank line
 * dispatches; a message without data is dropped.
 */

export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

export class SseParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];
  private id: string | null = null;

  /** Feeds text; returns the messages completed by it. */
  push(text: string): SseMessage[] {
    this.buffer += text;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      // A trailing CR may be the first half of CRLF: wait for the next chunk.
      if (!m || (m[0] === "\r" && m.index === this.buffer.length - 1)) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const msg = this.line(line);
      if (msg) out.push(msg);
    }
    return out;
  }

  /** The stream ended: a trailing CR was a line end after all; an unfinished message is dropped (the standard). */
  end(): SseMessage[] {
    const out = this.buffer.endsWith("\r") ? this.push("\n") : [];
    this.buffer = "";
    this.event = "";
    this.data = [];
    return out;
  }

  private line(line: string): SseMessage | null {
    if (line === "") {
      const msg =
        this.data.length > 0 ? { event: this.event || "message", data: this.data.join("\n"), id: this.id } : null;
      this.event = "";
      this.data = [];
      return msg;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
    return null;
  }
}

/** Reads a response body as SSE messages until it ends (cancel the body to stop early). */
export async function* sseMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode());
    yield* parser.end();
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
