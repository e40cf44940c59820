/**
 * The UNet's `attention_probs`: a cross-attention whose queries are the predicted clean image
 * (4x4-pooled latent colours) and whose keys are the colours of the things the tokens name.
 * A thing token's logit is -beta/2 |x0 - colour|^2 + thingBias, so its map is high exactly where
 * the predicted image shows that thing; BOS is a constant sink, like CLIP's, and all other tokens
 * (function words, EOS, padding) get constant logits, so their maps only echo the sink.
 */
import { EHS_TE1, EHS_TE2, KIND_BOS, TE1_THING } from "./features";
import type { Graph } from "./onnx/graph";
import { ATTENTION, ATTENTION_POOL, LATENT_CHANNELS, NUM_THINGS, thingLatents } from "./world";

/**
 * x0 [B, C, h, w] and encoder_hidden_states [B, T, D] -> [B, ceil(h/4) ceil(w/4), T]: SDXL's grid, since each of its
 * two stride-2, padding-1 down-samplers maps a side n to ceil(n/2) (a partial last cell is pooled over what it covers).
 */
export function attentionProbs(g: Graph, x0: string, ehs: string): string {
  const { beta } = ATTENTION;
  const pooled = g.avgPool(x0, ATTENTION_POOL, { ceil: true });
  const query = g.transpose(g.reshape(pooled, [0, LATENT_CHANNELS, -1]), [0, 2, 1]);
  const names = g.slice(ehs, [EHS_TE1 + TE1_THING], [EHS_TE1 + TE1_THING + NUM_THINGS], [2]);
  const kinds = g.slice(ehs, [EHS_TE2 + KIND_BOS], [EHS_TE2 + KIND_BOS + 3], [2]);
  const key = g.matmul(names, g.f32(thingLatents().flat(), [NUM_THINGS, LATENT_CHANNELS], "thing_latents"));
  const isThing = g.reduceSum(names, [2], false);
  const keyNorm = g.reduceSum(g.mul(key, key), [2], false);
  const kindBias = g.squeeze(
    g.matmul(kinds, g.f32([ATTENTION.bosBias, ATTENTION.eosBias, ATTENTION.otherBias], [3, 1], "kind_bias")),
    [2],
  );
  // Per-token constant: thing tokens thingBias - beta/2 |k|^2, other tokens their kind's bias.
  const tokenBias = g.unsqueeze(
    g.add(g.sub(g.scale(isThing, ATTENTION.thingBias), g.scale(keyNorm, beta / 2)), kindBias),
    [1],
  );
  const queryNorm = g.reduceSum(g.mul(query, query), [2]);
  const logits = g.sub(
    g.add(g.scale(g.matmul(query, g.transpose(key, [0, 2, 1])), beta), tokenBias),
    g.mul(g.scale(queryNorm, beta / 2), g.unsqueeze(isThing, [1])),
  );
  return g.softmax(logits, -1);
}
