/** The CLI's view of a model's tokenizer: encode a prompt, stream-decode new tokens. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '../tokenizer/index.js';

export interface TextCodec {
  encode(text: string): number[];
  streamDecoder(): { push(id: number): string; flush(): string };
}

/** Loads `<dir>/tokenizer.json` if the directory has one, else returns null. */
export async function loadTextCodec(dir: string): Promise<TextCodec | null> {
  if (!existsSync(join(dir, 'tokenizer.json'))) return null;
  const tok = await Tokenizer.fromDirectory(dir);
  return {
    // a raw prompt may carry special-token strings (<|im_start|>...): map them to their ids, as /v1/completions does
    encode: (text) => tok.encode(text, { parseSpecialTokens: true }),
    streamDecoder: () => tok.streamDecoder(),
  };
}
