#!/usr/bin/env node
// The accdiff CLI. The runner is written in TypeScript and run through tsx (a runtime dependency of this package).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
