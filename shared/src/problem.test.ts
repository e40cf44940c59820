import { describe, expect, it } from "vitest";
import { z } from "zod";
import { fromZodError, problem, problemResponse } from "./problem";

describe("problem+json", () => {
  it("builds RFC 9457 documents and responses", async () => {
    const p = problem(404, "Not found", "no such image");
    expect(p).toMatchObject({ status: 404, title: "Not found", detail: "no such image" });
    expect(p.type).toMatch(/not-found$/);
    const res = problemResponse(p, { "retry-after": "3" });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("retry-after")).toBe("3");
    expect(await res.json()).toEqual(p);
  });

  it("lists every zod issue with its field path", () => {
    const schema = z.strictObject({ a: z.object({ b: z.array(z.number()) }) });
    const r = schema.safeParse({ a: { b: [1, "x"] }, c: 1 });
    expect(r.success).toBe(false);
    const p = fromZodError(r.error!);
    expect(p.status).toBe(422);
    expect(p.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: "a.b[1]" }),
        expect.objectContaining({ path: "", message: "unknown field(s): c" }),
      ]),
    );
  });
});
