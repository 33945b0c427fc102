/**
 * JSON documents clients send (manifests, image configs) are parsed on the event loop, and
 * JSON.parse's time grows with the number of values, not the bytes: 4 MiB of `[],[],...` (a
 * million empty arrays) or of nested `[[[...]]]` took 0.5-1 s of the event loop here, while a
 * real manifest of that size (long strings, a few thousand descriptors) takes milliseconds. One
 * push of such a manifest stalled every other request for that long.
 *
 * MAX_JSON_VALUES bounds the values a document may hold: an OCI index of 5,000 platform entries
 * has about 75,000 (each descriptor about 15), an image config with a long history a few
 * thousand. At the bound, the slowest shape found (an object of 100,000 distinct keys) parsed in
 * about 95 ms, empty arrays or objects, numbers, strings or nesting in 5-30 ms.
 */
export const MAX_JSON_VALUES = 100_000;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;

/**
 * Whether the JSON text in `bytes` holds at most about `limit` values (object keys aside).
 * Counts the commas, `[` and `{` outside strings: a container of k values holds k - 1 commas
 * and opens with one bracket, so every value but the document's own is counted once (and an
 * empty container once more). A value takes at least a byte and all but the last a separator,
 * so a text of n bytes holds at most (n + 1) / 2 values, and texts of up to 2 * limit bytes are
 * not scanned. Malformed text is not judged: JSON.parse refuses it (an unterminated string ends
 * the count).
 */
export function jsonValuesWithin(bytes: Uint8Array, limit = MAX_JSON_VALUES): boolean {
  const n = bytes.length;
  if (n <= 2 * limit) return true;
  let values = 0;
  for (let i = 0; i < n; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      i = closingQuote(bytes, i);
      if (i === -1) return true;
    } else if (c === COMMA || c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++values > limit) return false;
    }
  }
  return true;
}

/** The index of the quote closing the string that opens at `open`, or -1 when there is none. */
function closingQuote(bytes: Uint8Array, open: number): number {
  let at = open + 1;
  for (;;) {
    at = bytes.indexOf(QUOTE, at);
    if (at === -1) return -1;
    // Escaped when an odd number of backslashes precede it (the opening quote stops the walk).
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at++;
  }
}
