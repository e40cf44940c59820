/**
 * An account's webhook signing secret, kept in its AccountDO's SQLite storage (one row). The secret is shown once,
 * when it is created or rotated; after a rotation the previous one keeps signing (a second v1 signature) for
 * ROTATION_GRACE_MS, so that a receiver can switch over without dropping a delivery.
 */
import { newWebhookSecret } from "./standard";

export const ROTATION_GRACE_MS = 24 * 3600 * 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS webhook_secret (
  id INTEGER PRIMARY KEY CHECK (id = 1), secret TEXT NOT NULL, created_at INTEGER NOT NULL,
  previous TEXT, previous_until INTEGER
);`;

export interface WebhookSecretInfo {
  createdAt: string;
  /** Until when deliveries are also signed with the secret this one replaced (null: no previous secret). */
  previousValidUntil: string | null;
}

export interface RotatedSecret extends WebhookSecretInfo {
  /** Shown once. */
  secret: string;
}

export class WebhookSecretStore {
  constructor(private readonly sql: SqlStorage) {
    sql.exec(SCHEMA);
  }

  private row() {
    const rows = this.sql.exec("SELECT secret, created_at, previous, previous_until FROM webhook_secret").toArray();
    if (rows.length === 0) return null;
    const r = rows[0];
    return {
      secret: r.secret as string,
      createdAt: r.created_at as number,
      previous: (r.previous as string | null) ?? null,
      previousUntil: (r.previous_until as number | null) ?? null,
    };
  }

  info(now = Date.now()): WebhookSecretInfo | null {
    const r = this.row();
    if (!r) return null;
    const graced = r.previous !== null && r.previousUntil !== null && r.previousUntil > now;
    return {
      createdAt: new Date(r.createdAt).toISOString(),
      previousValidUntil: graced ? new Date(r.previousUntil as number).toISOString() : null,
    };
  }

  /** Every secret that signs a delivery now: the current one first, then the previous one within its grace. */
  signing(now = Date.now()): string[] {
    const r = this.row();
    if (!r) return [];
    const graced = r.previous !== null && r.previousUntil !== null && r.previousUntil > now;
    return graced ? [r.secret, r.previous as string] : [r.secret];
  }

  /** Creates the secret, or replaces it (the old one signs alongside for the grace period). */
  rotate(now = Date.now()): RotatedSecret {
    const old = this.row();
    const secret = newWebhookSecret();
    const previousUntil = old ? now + ROTATION_GRACE_MS : null;
    this.sql.exec(
      `INSERT INTO webhook_secret (id, secret, created_at, previous, previous_until) VALUES (1, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at,
         previous = excluded.previous, previous_until = excluded.previous_until`,
      secret,
      now,
      old?.secret ?? null,
      previousUntil,
    );
    return {
      secret,
      createdAt: new Date(now).toISOString(),
      previousValidUntil: previousUntil === null ? null : new Date(previousUntil).toISOString(),
    };
  }
}
