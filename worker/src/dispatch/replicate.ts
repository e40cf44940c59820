/**
 * The `replicate` backend: a prediction on a configured model, version or deployment, created with the official
 * client; Replicate reports back through a signed webhook (routes/internal.ts). The prediction's input is the
 * RunnerJob (the same contract as our runners: gpu-runner/cog/predict.py is the Cog predictor wrapping the runner); its
 * output is {final_image, phase_images, phases, summary}, or any list of image URLs, final image last
 * (replicateWebhook.ts outputImages).
 */
import type { RunnerJob } from "@accdiff/shared";
import Replicate from "replicate";
import type { DispatchResult } from "./types";

/** A Replicate prediction as its API and webhooks report it (the fields we read). */
export interface Prediction {
  id: string;
  status: string;
  output?: unknown;
  error?: unknown;
  logs?: string | null;
  metrics?: { predict_time?: number };
}

export interface ReplicateConfig {
  token: string;
  model: string;
  baseUrl?: string;
}

export function replicateClient(cfg: ReplicateConfig): Replicate {
  return new Replicate({ auth: cfg.token, baseUrl: cfg.baseUrl, fetch: (input, init) => fetch(input, init) });
}

export async function createPrediction(cfg: ReplicateConfig, job: RunnerJob, webhook: string): Promise<DispatchResult> {
  const client = replicateClient(cfg);
  const common = {
    input: { job: JSON.stringify(job) },
    webhook,
    webhook_events_filter: ["start", "logs", "completed"] as ("start" | "logs" | "completed")[],
  };
  try {
    let prediction: { id: string };
    if (cfg.model.startsWith("deployments/")) {
      const [, owner, name] = cfg.model.split("/");
      prediction = await client.deployments.predictions.create(owner, name, common);
    } else if (cfg.model.includes(":")) {
      prediction = await client.predictions.create({ ...common, version: cfg.model.split(":")[1] });
    } else {
      prediction = await client.predictions.create({ ...common, model: cfg.model });
    }
    return { ok: true, target: prediction.id };
  } catch (err) {
    const status = (err as { response?: Response }).response?.status;
    const permanent = status !== undefined && status >= 400 && status < 500 && status !== 429;
    return {
      ok: false,
      retryAfterMs: null,
      reason: `replicate: ${err instanceof Error ? err.message : String(err)}`,
      permanent,
    };
  }
}

/** The prediction as Replicate sees it now, or null when it cannot be asked. */
export async function getPrediction(cfg: ReplicateConfig, id: string): Promise<Prediction | null> {
  try {
    return (await replicateClient(cfg).predictions.get(id)) as unknown as Prediction;
  } catch {
    return null;
  }
}

export async function cancelPrediction(cfg: ReplicateConfig, id: string): Promise<void> {
  try {
    await replicateClient(cfg).predictions.cancel(id);
  } catch {
    // Best effort, as for runners.
  }
}
