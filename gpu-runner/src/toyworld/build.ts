/**
 * `npm run fixtures`: writes the toy-world bundle to models/toy-world (or the folder given as the
 * first argument).
 */
import { resolve } from "node:path";
import { buildToyWorld, DEFAULT_TOY_WORLD_DIR } from "./index";

const dir = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_TOY_WORLD_DIR;
const started = performance.now();
const s = await buildToyWorld(dir);
const ms = Math.round(performance.now() - started);
console.log(`toy world: ${s.files.length} files, ${(s.bytes / 1024).toFixed(0)} KiB, ${s.hash} -> ${s.dir} (${ms} ms)`);
