// GPT-2 byte-level alphabet: every byte maps to one printable code point so BPE vocabularies can be stored as
// JSON strings. Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100.. in byte order.

function buildByteToChar(): string[] {
  const direct: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) direct.push(b);
  for (let b = 0xa1; b <= 0xac; b++) direct.push(b);
  for (let b = 0xae; b <= 0xff; b++) direct.push(b);
  const isDirect = new Set(direct);
  const out: string[] = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    out[b] = String.fromCharCode(isDirect.has(b) ? b : 256 + shifted++);
  }
  return out;
}

/** byte value -> its one-character stand-in. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** UTF-16 code unit of a stand-in character -> byte value (all stand-ins are in the BMP, below U+0144). */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(
  BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b] as [number, number]),
);

const utf8 = new TextEncoder();

/**
 * Bytes a token string stands for, as the ByteLevel decoder reads it: when every character is in the byte
 * alphabet the token is a byte string; otherwise (an added token such as "<SPECIAL 4>" with a raw space) it is
 * taken as its own UTF-8 text.
 */
export function tokenBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const b = CHAR_TO_BYTE.get(token.charCodeAt(i));
    if (b === undefined) return utf8.encode(token);
    out[i] = b;
  }
  return out;
}

/** The byte-alphabet spelling of a text's UTF-8 bytes (what vocab keys look like). */
export function toByteLevel(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}
