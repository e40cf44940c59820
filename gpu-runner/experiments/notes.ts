/**
 * The "What it shows" section of results.md: per claim, the measured verdict (computed from the numbers, so it stays
 * true whatever the run), then what the pictures show and why the toy world behaves so (written after looking at
 * the default run's montages; the mechanisms do not depend on the seed).
 */
import type { ResultsJson, Verdict } from "./report";

/** The claim's verdict (report.ts claimVerdict: the same rule as the table's "holds" column) in words. */
const VERDICT: Record<Verdict, string> = {
  yes: "holds clearly",
  weak: "holds only weakly (not on every seed, or within the seed-to-seed spread)",
  tie: "**a tie** (the means differ by less than the score's margin: no effect measured)",
  no: "**does not hold**",
};

const WHY = `
What the pictures show, and why (toy world: flat boxes on a lawn, README in gpu-runner/src/toyworld):

- **Repetition (experiments 1-2).** A toy UNet told "cat and dog" wants a cat and a dog in whatever window it
  denoises, and draws small ones where it sees none. With the identical prompt on every window, the windows
  away from the low-res objects grow extra small cats and dogs (the repetition score counts them, and the
  montages show them); without the skip residual (plain MultiDiffusion) they are as many or more, and bigger.
  Patch prompts name only what the phase-1 attention maps put in each window ("lawn" for empty windows), so
  those windows draw lawn.
- **Dilated sampling also suppresses repetition here** (identical-prompts+dilated), unlike what the paper reports
  for DemoFusion. Each dilated sample is a global, base-size view of the whole image that the toy UNet denoises
  into the low-res layout; fused with the windows, it averages their small spurious objects away. This is why
  identical-prompts is defined with dilated sampling off: with it on, the toy world hides experiment 1.
- **ControlNet (experiment 3).** With the skip residual on (the ladder), the upsampled low-res latents already pin
  the layout and the ControlNet adds little: compare the two structure numbers and their spread. With the skip
  residual off, the ControlNet is the main anchor and keeps object sizes and positions closer to the low-res
  image (in the default run most visibly on seed 1, where the cat keeps its size). The toy ControlNet reads the
  canny of the previous phase; the low-res images are grainy, so auto-canny (median-based thresholds, as the
  reference) marks grain edges on ~7% of the pixels. The toy world now counts only edge density above the
  window's mean as outline (changed in toyworld/scenePosterior.ts for these experiments: summed raw, that
  texture gave big boxes most of the prior and erased small objects, so the ControlNet lowered structure).
- **Dilated sampling costs structure once patch prompts and the ControlNet are on**: full scores lower than
  patch-prompts+controlnet (and than identical-prompts+dilated). The montages show its objects a little smaller,
  sometimes notched at a window seam; we did not isolate the cause further.
- **Structure tops out near 0.8** even for good settings: objects that touch the image border in the low-res image
  are pulled inside in every upscaled setting (a window at the border cannot see the object continue, and the toy
  prior penalises boxes sticking out of a window); the upscaled objects are also a little smaller or larger than
  the low-res ones because placements come from a grid of sizes.
- **Window interaction (experiment 4).** Without it, the dilated samples (every s-th latent pixel) are denoised
  independently and disagree near object edges: dilated sampling alone leaves a regular dither of lawn dots inside
  the objects, which the speckle score counts. With MultiDiffusion windows in the loop (full) the
  windows dominate the fused estimate and the dilated weight decays over the steps (cosine scale 2), so the
  difference is small. Window interaction has a cost the scores also show: shuffling swaps every latent element
  between the s*s dilated samples, i.e. between pixels up to s-1 latent pixels apart, so each sample sees ragged,
  colour-mixed edges, and (our reading) the toy's posterior-mean boxes shrink and blur a little there:
  dilated-only has lower structure than dilated-only-no-window-interaction.
`;

export function notesFor(r: ResultsJson): string {
  const lines = r.claims.map(
    (c) =>
      `- Experiment ${c.experiment}, ${c.claim}: ${VERDICT[c.verdict]} ` +
      `(${c.test}: ${c.score} ${c.means[0].toFixed(2)} vs ${c.means[1].toFixed(2)}, beyond the margin ${c.margin} in the ` +
      `paper's direction on ${c.seedWins} of ${c.seeds} seeds).`,
  );
  return `${lines.join("\n")}\n${WHY}`;
}
