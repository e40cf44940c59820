/**
 * Starts the loopback fakes (runner pool, Replicate API, webhook receiver, DNS resolver) in Node before the Workers
 * test runtime boots, and picks the loopback port on which the runtime will expose the worker itself
 * (vitest.config.ts `unsafeDirectSockets`), so that fakes can call the worker back over real HTTP exactly as runners and Replicate do in production.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import { ContractService } from "./contract";
import { FakeHooks } from "./fakeHooks";
import { FakeReplicate } from "./fakeReplicate";
import { FakeRunnerPool } from "./fakeRunner";

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

export default async function setup(project: TestProject) {
  const workerPort = await freePort();
  let origin = "";
  const runners = new FakeRunnerPool();
  const replicate = new FakeReplicate(() => origin);
  const hooks = new FakeHooks();
  const contract = new ContractService(() => `http://127.0.0.1:${workerPort}`);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const url = new URL(req.url ?? "/", origin);
      const body = Buffer.concat(chunks);
      try {
        if (await runners.handle(req, res, url, body)) return;
        if (await replicate.handle(req, res, url, body)) return;
        if (await hooks.handle(req, res, url, body)) return;
        if (await contract.handle(req, res, url, body)) return;
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ title: "not found", path: url.pathname }));
      } catch (err) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ title: "fake error", detail: String(err) }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  project.provide("fakeUrl", origin);
  project.provide("workerPort", workerPort);
  return () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
}

declare module "vitest" {
  export interface ProvidedContext {
    fakeUrl: string;
    workerPort: number;
  }
}
