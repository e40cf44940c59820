import { describe, expect, it } from "vitest";
import { makePng } from "../../test/fakes/png";
import { readImageHeader } from "./imageHeader";
import { structuralProblem } from "./imageStructure";

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

// 16x16 images as sharp (libvips) encodes them.
const FIXTURES: Record<string, Uint8Array> = {
  png: new Uint8Array(makePng(24, 16, 3)),
  pngInterlaced: b64(
    "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAACXBIWXMAAAPoAAAD6AG1e1JrAAABXElEQVR4nGNgUPXKn7LzHrOGb9H0PQ/ZtANKZ+1/wqkXXDH30HMew7DqBUdf8ZtE1i0+8VbIPKZx2WmGD6JW8S0rz32WsE1qX3Pxm7RDatf6Kz/lnDN6N13/o+iWPWHrrf8qnnmTd9xlUvcpnLab4QGrln/JzH2POXSDyuccfMZtEFo1/8hLPuOI2kXH3wiaRTcsPfVexDKuecXZT+I2iW2rGS58lbJP6Vx3+YesU3rPxmu/FVyz+rfc/KfskTtp+x1GNe+Cqbvus2j6Fc/Y+4hdJ7BsNsOBp1z6IZXzDr/gNQqvWXjstYBpVP2Sk++ELWKblp/5KGad0Lrq/BdJu+SOtZe+yzimdTNsuPpL3iWzb/ONv0ruORO33SYUCAzooUAoEBjQQ4FQIDCghwKhQGBADwVCgcCAHgqEAoGBUFJADwQGQkkBPRAYCCUF9EBgIJQU0AOBgVBSQA8EANBbfpDEKlKmAAAAAElFTkSuQmCC",
  ),
  jpeg: b64(
    "/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wAARCAAQABADASIAAhEBAxEB/8QAFwAAAwEAAAAAAAAAAAAAAAAAAQIDBP/EACEQAAICAgICAwEAAAAAAAAAAAECAwQRIRIUAFEFEzFx/8QAFQEBAQAAAAAAAAAAAAAAAAAAAAH/xAAiEQABAgMJAAAAAAAAAAAAAAABAhEhMUEiIzJhcZGywcL/2gAMAwEAAhEDEQA/ADFVrm7H8XEhFGKRa8vHgrmP7bNYMcgA5WSMDXrWB5BrDX6ZsoUhqQxdglAByfr17A0CDktXk37yT+4LrYWxX5xl4qqxNbLAF1L/AE17OznRLwya/pxgY80yV+/b6jc4fiYpuvgk7TsWICqllIOFsxnfvJ/QCF2phi3Z6ZrNTTQRi2VaIYTD8leU9T//2Q==",
  ),
  jpegProgressive: b64(
    "/9j/2wBDAAYEBQYFBAYGBQYHBwYIChAKCgkJChQODwwQFxQYGBcUFhYaHSUfGhsjHBYWICwgIyYnKSopGR8tMC0oMCUoKSj/2wBDAQcHBwoIChMKChMoGhYaKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCj/wgARCAAQABADASIAAhEBAxEB/8QAFwAAAwEAAAAAAAAAAAAAAAAAAAECA//EABUBAQEAAAAAAAAAAAAAAAAAAAAB/9oADAMBAAIQAxAAAAEh6p//xAAWEAEBAQAAAAAAAAAAAAAAAAACEgH/2gAIAQEAAQUCwm6sVR02v//EABkRAAIDAQAAAAAAAAAAAAAAAAEhAHHB8P/aAAgBAwEBPwEt9ZwT/8QAGREAAQUAAAAAAAAAAAAAAAAAAAEyYaHw/9oACAECAQE/AWrOs//EACEQAAIBAgYDAAAAAAAAAAAAAAECEgADESExosHCMnGh/9oACAEBAAY/AhaHgDE+sWXkVLRQJbVbqayyXCXxW4NR0tAx3MOwr//EABwQAAICAwEBAAAAAAAAAAAAAAERACExkcFBUf/aAAgBAQABPyFIKiEDkNQJKLHPT0QAMYJPkPslZ3rVEMfIf//aAAwDAQACAAMAAAAQp//EABgRAAMBAQAAAAAAAAAAAAAAAAERMfAh/9oACAEDAQE/EF6BCh4xL//EABsRAAIBBQAAAAAAAAAAAAAAAAFBESExYXHB/9oACAECAQE/EBYHUSsmytCv/8QAGhABAQEBAQEBAAAAAAAAAAAAAREhUTEAcf/aAAgBAQABPxBjM1FY6oDQGcyHyJ7UkMRgjXR2r7GgnKBb2W4uT9ZCfcOkV2yiDFb2voP/2Q==",
  ),
  webp: b64(
    "UklGRhgBAABXRUJQVlA4IAwBAADQBwCdASoQABAAAUAmJbACdH8EBAfrB8AH7Xei0dAD+weaTqAP5L+Nf9m+hv+H/TfzBfI/+d9wD9SOpB6Ff6AFbVPXRDFcOAD+J6m524xOHy9zvf/PgVeBIlq9JT0Hs5HN7nQUQ38iHsf/XQrBAk5AldM9j+rmtktRj15aG94/wTMktIVLH5/0HM5MbLQGQ5AGdEeO75L9Ov//pQGLvOakuGrmilE2oVhDXS7CzWDdNFjDYZM3FVfIjycxVyfKGz/6F2mqPfbcWmQuqFruW+9Y8aDgUMnem9WhPdrb5dz6u0DXKBAHBLiro0PsWmLYS2beP/XXbV2uXmexwxY4W8PrEPN193eb7mFI4AAA",
  ),
  webpLossless: b64("UklGRioAAABXRUJQVlA4TB4AAAAvD8ADAM1lRP8DRNo2aqZv1ufi8HS2pyQmgGWNuwA="),
};

const formatOf = (b: Uint8Array) => readImageHeader(b)!.format;

describe("structuralProblem", () => {
  it.each(Object.keys(FIXTURES))("accepts a whole %s", async (name) => {
    const b = FIXTURES[name];
    expect(await structuralProblem(b, formatOf(b))).toBeNull();
  });

  it.each(Object.keys(FIXTURES))("refuses %s cut short anywhere after its header", async (name) => {
    const b = FIXTURES[name];
    const format = formatOf(b);
    for (let n = b.length - 1; n >= 30; n--) {
      const cut = b.subarray(0, n);
      if (!readImageHeader(cut)) continue; // the header check refuses these already
      expect(await structuralProblem(cut, format), `${name} cut to ${n} of ${b.length}`).not.toBeNull();
    }
  });

  it("refuses a PNG with a damaged chunk, and one whose data is shorter than its size though every CRC checks", async () => {
    const good = new Uint8Array(makePng(24, 16, 5));
    const flipped = good.slice();
    flipped[60] ^= 0x40;
    expect(await structuralProblem(flipped, "png")).toMatch(/CRC/);
    // IHDR of a 24x16 image, image data of a 24x8 one.
    const short = new Uint8Array(makePng(24, 8, 5));
    const lying = new Uint8Array([...good.subarray(0, 33), ...short.subarray(33)]);
    expect(await structuralProblem(lying, "png")).toMatch(/ends after/);
  });
});
