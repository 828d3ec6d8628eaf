/** Test helper: bytes from hex text ("2f 61 00 00"), and back. */

/** Parses hex digits, ignoring whitespace. */
export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0) throw new Error(`odd number of hex digits in ${text}`);
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Formats bytes as spaced hex, for readable assertion failures. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** Pads text to a NUL-terminated OSC string, as hex-free bytes. */
export function oscString(text: string): Uint8Array {
  const encoded = new TextEncoder().encode(text);
  const out = new Uint8Array((encoded.length + 4) & ~3);
  out.set(encoded);
  return out;
}
