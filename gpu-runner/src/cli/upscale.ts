/**
 * `accdiff upscale --image in.png --size WxH`: the reference's image_lr path. The image replaces phase 1 (encoded by
 * the VAE, resized to the base frame when it differs), its attention maps are probed so that patch prompts still
 * work, and the upscaling phases run as in generate.
 */
import { readFile } from "node:fs/promises";
import { sha256Hex } from "@accdiff/shared";
import { decodeImage } from "../images/encode";
import { parseFlags } from "./args";
import { badInputError, usageError } from "./errors";
import { runFlagOptions, runRender, type StartImage } from "./generate";

const READ_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "it is a folder",
};

export async function readStartImage(path: string): Promise<StartImage> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    throw badInputError(`cannot read --image ${path}: ${READ_ERRORS[code] ?? code ?? String(e)}`);
  }
  try {
    const image = await decodeImage(bytes);
    return { image, sha256: await sha256Hex(bytes), path };
  } catch {
    throw badInputError(`--image ${path} is not an image accdiff can read (PNG, JPEG or WebP)`);
  }
}

export async function upscaleCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, { ...runFlagOptions(), image: { type: "string", short: "i" } });
  const path = values.image;
  if (typeof path !== "string" || path === "") throw usageError("--image is required");
  return runRender(values, () => readStartImage(path));
}
