/**
 * The event stream's slim messages (jobs/eventStream.ts) as zod schemas, for the OpenAPI document and the generated
 * client. Kept free of runtime imports so that Node tools (npm run sdk) can load the document.
 */
import { JOB_STATUSES } from "@accdiff/shared";
import { z } from "zod";

export const ProgressEventSchema = z.strictObject({
  status: z.enum(JOB_STATUSES),
  percent: z.number().describe("0-100 over the whole job"),
  phase: z.number().int().nullable(),
  step: z.number().int().nullable(),
  steps: z.number().int().nullable(),
  etaMs: z.number().nullable().describe("estimated time to finish; null while unknown"),
  queuePosition: z.number().int().nullable(),
});

export const EndEventSchema = z.strictObject({ status: z.enum(JOB_STATUSES) });

export type ProgressEvent = z.infer<typeof ProgressEventSchema>;
