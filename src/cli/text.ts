/** The CLI's view of a model's tokenizer: encode a prompt, stream-decode new tokens. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface TextCodec {
  encode(text: string): number[];
  streamDecoder(): { push(id: number): string; flush(): string };
}

/** Loads `<dir>/tokenizer.json` if the directory has one, else returns null. */
export async function loadTextCodec(dir: string): Promise<TextCodec | null> {
  if (!existsSync(join(dir, 'tokenizer.json'))) return null;
  throw new Error('tokenizer support is not wired into the CLI yet');
}
