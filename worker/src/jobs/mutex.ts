/**
 * A FIFO lock for a Durable Object's async sections. The runtime's input gate only holds while storage calls are in
 * flight; awaiting R2, KV or another Durable Object lets other requests in, so two runner events could otherwise be
 * applied concurrently and out of order.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
