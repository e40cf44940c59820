/**
 * Prompts are text: what a tokenizer should see, what a cache key hashes and what a log shows. They are normalised to
 * NFC (one encoding per visible text, so equal prompts share cache entries); tabs and line breaks are folded to
 * spaces (one character for one, so positions stay put); any other control character (C0, DEL, C1) or a lone UTF-16
 * surrogate (text that is not Unicode at all) is refused, naming where it is.
 */

const FOLDED = /[\t\n\r]/g;

function hex(cp: number): string {
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** NFC with tabs and line breaks as spaces: the text a valid prompt is stored and rendered as. */
export function normalizeText(s: string): string {
  return s.normalize("NFC").replace(FOLDED, " ");
}

/**
 * Why `s` is not acceptable text, or null. The position is the 0-based index in code points of the NFC form (what a
 * client counts as characters).
 */
export function textProblem(s: string): string | null {
  let position = 0;
  for (const ch of normalizeText(s)) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      return `contains a lone surrogate (${hex(cp)}, not Unicode text) at position ${position}`;
    }
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
      return `contains the control character ${hex(cp)} at position ${position}`;
    }
    position++;
  }
  return null;
}
