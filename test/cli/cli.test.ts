import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureDir, readGolden } from '../helpers/fixtures.js';

const root = join(fixtureDir('hub-sharded'), '..', '..', '..', '..');
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), ...args], { encoding: 'utf8', cwd: root });

describe('nemotron CLI', () => {
  it('generate prints the greedy continuation of a fixture model', () => {
    const g = readGolden('hub-sharded');
    const r = cli('generate', '--model', fixtureDir('hub-sharded'), '--prompt-ids', g.prompts.short.join(','), '--max-tokens', '10', '--ignore-eos', '--ids');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split(' ').map(Number)).toEqual(g.greedy.short.tokens.slice(0, 10));
  });

  it('generate takes a text prompt and prints text (fixture tokenizer)', () => {
    const r = cli('generate', '--model', fixtureDir('hub-sharded'), '--prompt', 'The quick brown fox', '--max-tokens', '12', '--ignore-eos');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().length).toBeGreaterThan(0);
    // the same run with --ids prints 12 ids that decode to that text
    const ids = cli('generate', '--model', fixtureDir('hub-sharded'), '--prompt', 'The quick brown fox', '--max-tokens', '12', '--ignore-eos', '--ids');
    expect(ids.stdout.trim().split(' ').length).toBe(12);
  });

  it('bench prints prompt and generation tok/s, TTFT and peak memory on a CPU backend', () => {
    const r = cli('bench', '--model', fixtureDir('hub-sharded'), '--backend', 'cpu-ref', '--batches', '1,2', '--decode-tokens', '4', '--prompt', '4', '--prefill', '16');
    expect(r.status).toBe(0);
    for (const row of [/\| prefill, 16-token prompt \| tok\/s \| \d/, /\| TTFT, 16-token prompt \| ms \| \d/, /\| decode, batch 1 \| tok\/s \| \d/, /\| decode, batch 2 \| tok\/s \| \d/, /\| peak host memory \(RSS\) \| MiB \| \d/]) {
      expect(r.stdout).toMatch(row);
    }
  });

  it('info reports the layer pattern and dtypes', () => {
    const r = cli('info', '--model', fixtureDir('legacy-f16'));
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/pattern\s+M-\*EMM\*E/);
    expect(r.stdout).toMatch(/F16: 69 tensors/);
  });

  it('bad input: one clear line on stderr and a non-zero exit, no stack trace', () => {
    const missing = cli('generate', '--model', '/nonexistent', '--prompt-ids', '1');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^nemotron: \/nonexistent: not a model directory \(no config\.json\)/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const usage = cli('generate', '--model', fixtureDir('hub-sharded'));
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/give exactly one of --prompt or --prompt-ids/);
    const badId = cli('generate', '--model', fixtureDir('hub-sharded'), '--prompt-ids', '1,99999');
    expect(badId.status).toBe(1);
    expect(badId.stderr).toMatch(/token 99999 is outside the vocabulary/);
    const unknown = cli('frobnicate');
    expect(unknown.status).toBe(2);
  });
});
