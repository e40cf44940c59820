/**
 * Writes the worker's OpenAPI documents to a folder (default out/openapi): public.json, admin.json, internal.json.
 * `npm run sdk` generates the client's types from public.json; `npx @redocly/cli lint out/openapi/*.json` lints them.
 *   tsx worker/scripts/openapi.ts [folder] [server-url]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { adminDocument } from "../src/openapi/admin";
import { internalDocument } from "../src/openapi/internal";
import { publicDocument } from "../src/openapi/public";

const dir = process.argv[2] ?? "out/openapi";
const server = process.argv[3] ?? "http://127.0.0.1:8787";
mkdirSync(dir, { recursive: true });
for (const [name, doc] of Object.entries({
  public: publicDocument(server),
  admin: adminDocument(server),
  internal: internalDocument(server),
})) {
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(doc, null, 2)}\n`);
}
console.log(`wrote ${dir}/{public,admin,internal}.json`);
