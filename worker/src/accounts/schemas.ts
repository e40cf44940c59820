/**
 * The account and usage representations as zod schemas, for the OpenAPI documents (public usage, admin API); the
 * routes build these objects from AccountDO's answers (accounts/types.ts, ledger.ts) and the contract tests check
 * every response against the documents.
 */
import { z } from "zod";

const amount = () => z.number().int().describe("integer microdollars");
const instant = () => z.string().describe("ISO 8601 date-time (UTC)");

export const AccountSchema = z.strictObject({
  id: z.string(),
  name: z.string().nullable(),
  createdAt: instant(),
  currency: z.string(),
  unit: z.string(),
  balance: amount(),
  reserved: amount().describe("sum of open reservations (running jobs' quotes)"),
  creditLimit: amount().describe("how far below zero the balance may go (postpaid)"),
  available: amount().describe("balance + creditLimit - reserved: what new jobs may still reserve"),
  dailyQuota: z.number().int().nullable().describe("jobs per UTC day; null: the deployment's default"),
  today: z.strictObject({ day: z.string(), jobs: z.number().int() }),
  rateLimit: z.strictObject({ burst: z.number().int(), perSecond: z.number() }),
});

export const LedgerEntrySchema = z.strictObject({
  seq: z.number().int(),
  at: instant(),
  kind: z.enum(["credit", "reserve", "capture", "release"]),
  jobId: z.string().nullable(),
  amount: amount().describe("effect on the balance"),
  held: amount().describe("effect on the reserved total"),
  balance: amount().describe("balance after this entry"),
  reference: z.string().nullable().describe("a credit's reference (idempotency)"),
  note: z.string().nullable(),
});

export const HoldSchema = z.strictObject({
  jobId: z.string(),
  amount: amount().describe("the amount held: the job's quote"),
  since: instant(),
});

export const UsageSchema = AccountSchema.extend({
  reservations: z.array(HoldSchema).describe("open holds: jobs still running, with the amount each one holds"),
  ledger: z.strictObject({
    entries: z.array(LedgerEntrySchema).describe("newest first"),
    nextCursor: z.string().nullable().describe("pass as `cursor` for older entries; null at the end"),
  }),
});

export const IssuedKeySchema = z.strictObject({
  key: z.string().describe("the API key; shown this once, never again"),
  prefix: z.string().describe("identifies the key (revocation, listings)"),
  accountId: z.string(),
});

export const KeyListSchema = z.strictObject({
  keys: z.array(
    z.strictObject({
      prefix: z.string(),
      name: z.string().nullable(),
      createdAt: instant(),
      revokedAt: instant().nullable(),
    }),
  ),
});

export const CreditResultSchema = z.strictObject({
  accountId: z.string(),
  balance: amount(),
  duplicate: z.boolean().describe("true when this reference was already credited (nothing changed)"),
  entry: LedgerEntrySchema,
});
