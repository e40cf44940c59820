/**
 * The ledger as CSV (RFC 4180, CRLF line ends) for invoicing. Amounts stay integers in the price table's unit; a
 * decimal column in the currency is added for humans, computed with integer arithmetic (no float rounding).
 * Text cells that a spreadsheet would read as a formula are neutralised with a leading apostrophe.
 */
import { PRICE_TABLE } from "@accdiff/shared";
import type { LedgerEntry } from "./ledger";

const COLUMNS = [
  "seq",
  "at",
  "kind",
  "job_id",
  "amount",
  "held",
  "balance",
  "currency",
  "unit",
  "amount_decimal",
  "reference",
  "note",
];

/** Units per currency unit: microdollars -> 1e6. */
const UNITS_PER_CURRENCY = 1_000_000;

/** 1234567 -> "1.234567", -5 -> "-0.000005": exact, whatever the magnitude. */
export function formatDecimal(amount: number, unitsPerCurrency = UNITS_PER_CURRENCY): string {
  const digits = String(unitsPerCurrency).length - 1;
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  const whole = Math.floor(abs / unitsPerCurrency);
  const frac = String(abs % unitsPerCurrency).padStart(digits, "0");
  return `${sign}${whole}.${frac}`;
}

/** A free-text cell (job ids, references, notes): quoted as needed, formulas neutralised. */
export function csvCell(value: string | number | null): string {
  if (value === null) return "";
  if (typeof value === "number") return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function ledgerCsvHeader(): string {
  return `${COLUMNS.join(",")}\r\n`;
}

export function ledgerCsvRow(e: LedgerEntry): string {
  // Generated cells (numbers, dates, the decimal) are written as they are; only free text goes through csvCell.
  const cells = [
    e.seq,
    new Date(e.at).toISOString(),
    e.kind,
    csvCell(e.jobId),
    e.amount,
    e.held,
    e.balance,
    PRICE_TABLE.currency,
    PRICE_TABLE.unit,
    formatDecimal(e.amount),
    csvCell(e.reference),
    csvCell(e.note),
  ];
  return `${cells.join(",")}\r\n`;
}
