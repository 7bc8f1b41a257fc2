export interface DecodeOptions {
  /** Leave out added tokens flagged special (`<|im_end|>`, `<s>`...). Default false. */
  skipSpecialTokens?: boolean;
}

/**
 * Incremental detokenizer. `push(id)` returns the text that became complete with this id; bytes of a character
 * split across tokens are held back until the character is whole, so no piece ends in a broken character or a
 * spurious U+FFFD. `flush()` returns whatever is still held (as U+FFFD if it never completed). The pieces of
 * every `push` plus `flush()`, joined, equal `Tokenizer.decode` of all the ids with the same options.
 */
export class StreamDecoder {
  private decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  /** @internal use `Tokenizer.streamDecoder()` */
  constructor(private readonly bytesOf: (id: number) => Uint8Array | undefined) {}

  push(id: number): string {
    const b = this.bytesOf(id);
    if (!b || b.length === 0) return '';
    // WHATWG streaming UTF-8 decoding keeps an incomplete trailing sequence for the next call and replaces
    // invalid bytes exactly as a one-shot decode would (maximal subparts), so the joined pieces match decode().
    return this.decoder.decode(b, { stream: true });
  }

  /** Ends the stream; the decoder can then be reused for a new one. */
  flush(): string {
    const s = this.decoder.decode();
    this.decoder = new TextDecoder('utf-8', { ignoreBOM: true });
    return s;
  }
}
