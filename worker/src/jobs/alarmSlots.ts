/**
 * A Durable Object has one alarm; a JobDO needs two clocks: the job's own (dispatch, lease, billing retries) and its
 * webhook deliveries' retries. Each is a slot with its own time, stored, and the real alarm is set to the earliest.
 * When the alarm fires, `fired` says whose it was; the slots that were due are cleared, and their owners re-arm them.
 */

export type Slot = "job" | "webhooks";
type Slots = Record<Slot, number | null>;

const KEY = "alarm:slots";

export class AlarmSlots {
  constructor(private readonly storage: DurableObjectStorage) {}

  private async read(): Promise<Slots> {
    return (await this.storage.get<Slots>(KEY)) ?? { job: null, webhooks: null };
  }

  private async write(t: Slots): Promise<void> {
    await this.storage.put(KEY, t);
    const times = [t.job, t.webhooks].filter((x): x is number => x !== null);
    if (times.length === 0) await this.storage.deleteAlarm();
    else await this.storage.setAlarm(Math.min(...times));
  }

  /** Sets (or with null clears) a slot's time. */
  async set(slot: Slot, at: number | null): Promise<void> {
    const t = await this.read();
    t[slot] = at;
    await this.write(t);
  }

  /** Moves a slot earlier (never later); null leaves it as it is. */
  async earliest(slot: Slot, at: number | null): Promise<void> {
    if (at === null) return;
    const t = await this.read();
    if (t[slot] !== null && (t[slot] as number) <= at) return;
    t[slot] = at;
    await this.write(t);
  }

  /**
   * Which slots the alarm that fired now serves. An alarm with no webhook delivery due is the job's, whatever time
   * its slot records: tests fire alarms early on purpose, and states saved before the slots existed have none.
   */
  async fired(now: number): Promise<{ job: boolean; webhooks: boolean }> {
    const t = await this.read();
    const webhooks = t.webhooks !== null && t.webhooks <= now;
    const job = !webhooks || (t.job !== null && t.job <= now);
    if (webhooks) t.webhooks = null;
    if (job) t.job = null;
    await this.write(t);
    return { job, webhooks };
  }
}
