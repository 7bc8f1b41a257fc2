// Locations of the shared template fixture and this area's golden files.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseJsonLossless } from '../../src/template/index.js';

/** ../shared/fixtures/nemotron3-nano-chat-template.jinja, resolved from this file (never copied here). */
export const TEMPLATE_PATH = fileURLToPath(
  new URL('../../../shared/fixtures/nemotron3-nano-chat-template.jinja', import.meta.url),
);
export const TEMPLATE_AVAILABLE = existsSync(TEMPLATE_PATH);
export const SKIP_REASON = `chat template fixture not found at ${TEMPLATE_PATH}; template goldens skipped`;

export function readTemplate(): string {
  return readFileSync(TEMPLATE_PATH, 'utf8');
}

export const FIXTURES = fileURLToPath(new URL('../fixtures/template/', import.meta.url));

export interface GoldenCase {
  name: string;
  messages: unknown[];
  tools?: string | unknown[];
  kwargs?: Record<string, unknown>;
  add_generation_prompt?: boolean;
}

export interface GoldenSpec {
  tools: Record<string, unknown[]>;
  cases: GoldenCase[];
}

/** cases.json parsed like Python's json.load (integral floats and key order kept). */
export function readCases(): GoldenSpec {
  return parseJsonLossless(readFileSync(FIXTURES + 'cases.json', 'utf8')) as GoldenSpec;
}

export function readExpected(name: string): string {
  return readFileSync(`${FIXTURES}expected/${name}.txt`, 'utf8');
}
