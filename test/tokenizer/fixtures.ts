// Shared loading of the tokenizer fixtures and Python goldens (test/fixtures/tokenizers/, written by
// scripts/tokenizer/make_goldens.py on a machine with the Python `tokenizers` library).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizers/', import.meta.url));
export const GOLDEN_NAMES = ['nemotron-tekken-32k', 'qwen3', 'gpt35-cl100k'] as const;
export type GoldenName = (typeof GOLDEN_NAMES)[number];

export interface GoldenCase {
  cat: string;
  text: string;
  ids: number[];
  ids_add_special: number[];
  ids_no_special_parse: number[];
  decode: string;
  decode_skip: string;
  decode_noparse: string;
}

export interface Golden {
  tokenizer: string;
  tokenizer_sha256: string;
  python_tokenizers_version: string;
  vocab_size_with_added: number;
  added_tokens: Record<string, { content: string; special: boolean }>;
  cases: GoldenCase[];
  decode_cases: { ids: number[]; decode: string; decode_skip: string }[];
  bulk: { bytes: number; seed: number; count: number; ids_sha256: string; first_ids: number[] };
}

export function loadGolden(name: GoldenName): Golden {
  return JSON.parse(readFileSync(`${FIXTURES}goldens/golden-${name}.json`, 'utf8')) as Golden;
}

export function loadCorpus(): { cat: string; text: string }[] {
  return JSON.parse(readFileSync(`${FIXTURES}corpus.json`, 'utf8')) as { cat: string; text: string }[];
}
