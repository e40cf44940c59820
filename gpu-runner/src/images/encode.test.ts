import { describe, expect, it } from "vitest";
import { decodeImage, encodeGray, encodeImage } from "./encode";
import { maskOverlay, patchGridPicture } from "./pictures";

function gradient(width: number, height: number) {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / (width - 1);
      data[i + 1] = (y * 255) / (height - 1);
      data[i + 2] = 128;
    }
  return { data, width, height };
}

describe("image encoding", () => {
  it("PNG round-trips losslessly; WebP and JPEG decode to the right size and close colours", async () => {
    const img = gradient(40, 24);
    const png = await decodeImage(await encodeImage(img, "png"));
    expect(png).toMatchObject({ width: 40, height: 24 });
    expect([...png.data]).toEqual([...img.data]);
    for (const f of ["webp", "jpeg"] as const) {
      const back = await decodeImage(await encodeImage(img, f));
      expect(back).toMatchObject({ width: 40, height: 24 });
      let err = 0;
      for (let i = 0; i < img.data.length; i++) err += Math.abs(back.data[i] - img.data[i]);
      expect(err / img.data.length).toBeLessThan(6);
    }
  });

  it("refuses a buffer that does not match its size", async () => {
    await expect(encodeImage({ data: new Uint8Array(10), width: 4, height: 4 })).rejects.toThrow(/bytes for 4x4x3/);
  });

  it("renders masks and patch grids at the image size", async () => {
    const img = gradient(64, 32);
    const mask = new Uint8Array([255, 0, 0, 255]);
    const overlay = await decodeImage(await maskOverlay(img, mask, 2, 2));
    expect(overlay).toMatchObject({ width: 64, height: 32 });
    // Top-left quadrant is "on" (brighter) compared with the top-right "off" quadrant at similar source colour.
    const at = (x: number, y: number) => overlay.data[(y * 64 + x) * 3 + 2];
    expect(at(5, 5)).toBeGreaterThan(at(40, 5));
    const grid = await decodeImage(
      await patchGridPicture(img, [{ top: 0, left: 0, bottom: 32, right: 32, prompt: "cat <&> lawn" }]),
    );
    expect(grid).toMatchObject({ width: 64, height: 32 });
    expect(await decodeImage(await encodeGray(new Uint8Array(12).fill(255), 4, 3))).toMatchObject({
      width: 4,
      height: 3,
    });
  });
});
