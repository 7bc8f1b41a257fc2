/** Paths and readers for the committed golden fixtures (test/fixtures/models, see its README). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsFile } from '../../src/loaders/safetensors.js';
import { parseLenientJson } from '../../src/util/lenient-json.js';

export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');
export const FIXTURE_NAMES = ['hub-sharded', 'hf5-fused', 'legacy-f16'] as const;

export interface Golden {
  prompts: Record<string, number[]>;
  greedy: Record<string, { tokens: number[]; min_margin: number }>;
  logits: (prompt: string) => { data: Float32Array; rows: number; vocab: number };
}

export function fixtureDir(name: string): string {
  return join(FIXTURES_DIR, name);
}

export function readGolden(name: string): Golden {
  const dir = fixtureDir(name);
  const meta = parseLenientJson(readFileSync(join(dir, 'golden.json'), 'utf8')) as { prompts: Golden['prompts']; greedy: Golden['greedy'] };
  const file = new SafetensorsFile(join(dir, 'golden.safetensors'));
  const cache = new Map<string, { data: Float32Array; rows: number; vocab: number }>();
  return {
    prompts: meta.prompts,
    greedy: meta.greedy,
    logits(prompt) {
      if (!cache.has(prompt)) {
        const info = file.tensors.get(`logits.${prompt}`)!;
        cache.set(prompt, { data: file.readFloat32(`logits.${prompt}`), rows: info.shape[0], vocab: info.shape[1] });
      }
      return cache.get(prompt)!;
    },
  };
}

/** max_i |a_i - b_i| / max_i |b_i| */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : Math.max(num, d);
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

export function argmax(a: ArrayLike<number>, from = 0, len = a.length): number {
  let best = from;
  for (let i = from; i < from + len; i++) if (a[i] > a[best]) best = i;
  return best - from;
}
