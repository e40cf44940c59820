/** Loopback ports for the services the demo starts. */
import { createServer } from "node:net";

/**
 * A port that was free a moment ago on 127.0.0.1. The worker needs its own address before it starts (runners call
 * it back there), so the port is chosen first; the caller retries on the rare race with another process.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port on 127.0.0.1"))));
    });
  });
}
