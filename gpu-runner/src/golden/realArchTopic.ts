/**
 * Golden topic `real_arch_bundle`: a real-architecture bundle (by default the tiny SDXL of ../shared/real-arch,
 * exported by our tool) held to the reference `__call__` runs recorded on the same models.
 *
 * Cases: `components` (the exporter's PyTorch cases through onnxruntime, and the tokenizer; only when the cases are
 * known, i.e. the bundle was exported here or `--cases` names them), then one case per recorded run
 * (`reference/<run>`): the whole job in referenceCompat with its draws injected, every recorded tensor compared
 * (realarch/replayReference.ts).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { loadOnnxModels, type OnnxModels } from "../models/index";
import { exportRealArchBundle } from "../realarch/exportBundle";
import { checkExportCases, checkTokenizerIds } from "../realarch/exportCases";
import { referenceRunDirs } from "../realarch/referenceRun";
import { assertAllWithin, replayReference } from "../realarch/replayReference";

export const REAL_ARCH_TOPIC = "real_arch_bundle";

export interface RealArchSource {
  /** A finished bundle folder; or `models` to export one (cached). */
  bundle?: string;
  models?: string;
  /** A recorded run folder (manifest.json) or a folder of them. */
  reference: string;
  /** The exporter's smoke cases for the bundle (tensor-manifest folders) and its tokenizer_ids.json. */
  cases?: string;
  tokenizerIds?: string;
}

export interface TopicCase {
  id: string;
  run(): Promise<void>;
}

/** The topic's cases; `close()` frees the loaded models when they have all run. */
export async function realArchCases(
  src: RealArchSource,
  log: (line: string) => void,
): Promise<{ cases: TopicCase[]; close(): Promise<void> }> {
  let { bundle, cases, tokenizerIds } = src;
  let prepare: Promise<void> | undefined;
  if (!bundle) {
    prepare = exportRealArchBundle({ models: src.models, log }).then((e) => {
      bundle = e.bundleDir;
      cases ??= e.casesDir;
      tokenizerIds ??= e.tokenizerIdsFile;
      if (!e.cached)
        log(`       exported ${src.models ?? "the real-arch models"} in ${(e.exportMs / 1000).toFixed(1)} s`);
    });
  }
  let models: Promise<OnnxModels> | undefined;
  const loaded = async () => {
    await prepare;
    models ??= loadOnnxModels(bundle!, { provider: "cpu" });
    return models;
  };
  const out: TopicCase[] = [];
  if (!src.bundle || src.cases) {
    out.push({
      id: "components",
      run: async () => {
        await prepare;
        const ms = await checkExportCases(bundle!, cases!);
        if (tokenizerIds && existsSync(tokenizerIds)) ms.push(await checkTokenizerIds(bundle!, tokenizerIds));
        assertAllWithin(ms);
      },
    });
  }
  const runs = referenceRunDirs(src.reference);
  if (runs.length === 0) {
    out.push({
      id: "reference",
      run: async () => {
        throw new Error(`${src.reference}: no recorded run (a folder with manifest.json, or folders of them)`);
      },
    });
  }
  for (const dir of runs) {
    out.push({
      id: dir.split("/").pop() ?? dir,
      run: async () => assertAllWithin((await replayReference(await loaded(), dir)).measurements),
    });
  }
  return {
    cases: out,
    close: async () => {
      if (models) await (await models).dispose();
    },
  };
}

/** ../shared/real-arch beside a golden folder (`<golden>/../real-arch`), when it has models and reference runs. */
export function realArchBeside(goldenDir: string): { models: string; reference: string } | undefined {
  const root = join(goldenDir, "..", "real-arch");
  const models = join(root, "models");
  const reference = join(root, "reference");
  return existsSync(models) && existsSync(reference) ? { models, reference } : undefined;
}
