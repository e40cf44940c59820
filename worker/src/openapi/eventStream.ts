/**
 * GET /v1/images/{id}/events in the public document: the stream's description (what an EventSource client must do)
 * and the StreamEvent schema of its messages, as jobs/eventStream.ts writes them.
 */
import { ref } from "./components";

export const EVENTS_DESCRIPTION = `Authenticate with the API key, or open the job's \`links.stream\` (signed, no header needed:
what a plain \`EventSource(url)\` can do). The stream starts with \`retry:\` and sends named events, each with the
job's version as its \`id\`:

- \`job\`: the whole job (schema Job), first and whenever its status, images (preview, phase images, image),
  phases done, warnings, error or billing change;
- \`progress\`: a few fields (schema ProgressEvent) for every other change: status, percent, phase, step, steps,
  etaMs, queuePosition;
- \`end\`: \`{"status": ...}\` (schema EndEvent) once the job has ended; then the server closes the stream.

Listen with \`addEventListener("job" | "progress" | "end", ...)\` (not \`onmessage\`) and close on \`end\`. A
reconnect sends \`Last-Event-ID\` and resumes after it (starting with the whole job); one made after \`end\` is
answered 204, which stops an EventSource. A comment line is sent every 15 s without a change. \`links.stream\` is
signed for 15 minutes like every link: a reconnect after that is refused (401); read the job for a fresh one.`;

/** One message of the event stream, as an SSE parser hands it over: the event's name, id, and its data decoded. */
export const streamEventSchema = {
  description: "one Server-Sent Event (`data` is JSON); the stream is a sequence of these",
  oneOf: (
    [
      ["job", "Job"],
      ["progress", "ProgressEvent"],
      ["end", "EndEvent"],
    ] as const
  ).map(([event, schema]) => ({
    type: "object",
    properties: {
      event: { const: event },
      id: { type: "string", description: "the job's version; sent back as Last-Event-ID on reconnect" },
      data: ref(schema),
    },
    required: ["event", "id", "data"],
    additionalProperties: false,
  })),
};
