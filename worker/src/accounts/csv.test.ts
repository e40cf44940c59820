import { describe, expect, it } from "vitest";
import { csvCell, formatDecimal, ledgerCsvHeader, ledgerCsvRow } from "./csv";

describe("ledger CSV", () => {
  it("formats exact decimals and escapes cells, formulas included", () => {
    expect(formatDecimal(1_234_567)).toBe("1.234567");
    expect(formatDecimal(-5)).toBe("-0.000005");
    expect(formatDecimal(0)).toBe("0.000000");
    expect(formatDecimal(900_719_925_474_099)).toBe("900719925.474099");
    expect(csvCell('a,"b"')).toBe('"a,""b"""');
    expect(csvCell("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvCell(null)).toBe("");
    expect(ledgerCsvHeader().split(",")).toContain("amount_decimal");
    const row = ledgerCsvRow({
      seq: 3,
      at: Date.parse("2026-01-02T03:04:05Z"),
      kind: "capture",
      jobId: "job_1",
      amount: -2_500,
      held: -3_000,
      balance: 7_500,
      reference: null,
      note: null,
    });
    expect(row).toBe("3,2026-01-02T03:04:05.000Z,capture,job_1,-2500,-3000,7500,USD,microdollars,-0.002500,,\r\n");
  });
});
