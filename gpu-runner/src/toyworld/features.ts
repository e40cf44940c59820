/**
 * Where the text encoders put what the UNet reads: the layout of the penultimate hidden states
 * (what SDXL feeds the UNet) and of the pooled `text_embeds`. Other layers hold the same
 * information in rotated bases, so a pipeline that feeds the wrong layer gets nonsense.
 */
import { D1, NUM_THINGS } from "./world";

/** text_encoder penultimate: one-hot of the thing a token names (THINGS order), dims 0..4. */
export const TE1_THING = 0;
/** text_encoder_2 penultimate: running count of each thing named so far (causal), dims 0..4. */
export const TE2_BAG = 0;
/** Token kind flags (both encoders): BOS, EOS, any other token that names no thing. */
export const KIND_BOS = NUM_THINGS;
export const KIND_EOS = NUM_THINGS + 1;
export const KIND_OTHER = NUM_THINGS + 2;
/** Sinusoidal position features fill the remaining dims (the UNet ignores them). */
export const POSITION = NUM_THINGS + 3;

/** Offsets of each encoder's features inside encoder_hidden_states (concatenated, text_encoder first). */
export const EHS_TE1 = 0;
export const EHS_TE2 = D1;

/** text_embeds: presence (0/1) of each thing named anywhere in the prompt, dims 0..4 ... */
export const POOLED_BAG = 0;
/** ... and whether the prompt names any thing at all (dim 5); the rest are zero. */
export const POOLED_NAMES_ANY = NUM_THINGS;
