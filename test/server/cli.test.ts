/** `nemotron chat` (in-process REPL session) and `nemotron serve` (a real process configured by NIM env vars). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chatSession } from '../../src/cli/commands/chat.js';
import { createApp } from '../../src/server/app.js';
import { silentLogger } from '../../src/server/logger.js';
import { defaultModelDir, ModelHost, requireModelDir } from '../../src/server/model.js';
import { loadTiny, scriptOutput, testOptions, TINY_CHAT } from './helpers.js';

async function session(lines: string[], over: Partial<Parameters<typeof chatSession>[0]> = {}) {
  const model = await loadTiny();
  const app = createApp({ host: ModelHost.ready(model), opts: testOptions(), log: silentLogger });
  const bodies: any[] = [];
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.on('data', (d) => (text += d));
  const done = chatSession({
    fetch: async (r) => {
      bodies.push(await r.clone().json());
      return app.fetch(r);
    },
    baseUrl: 'http://local',
    model: 'tiny-nemotron',
    input,
    output,
    color: false,
    thinking: true,
    tools: true,
    maxTokens: 80,
    temperature: 0,
    ...over,
  });
  return { model, bodies, input, done, text: () => text, send: (l: string[]) => input.end(l.join('\n') + '\n') };
}

describe('nemotron chat', () => {
  it('streams reasoning and content, runs a demo tool the model calls and feeds the result back', async () => {
    const s = await session([]);
    const restore = scriptOutput(s.model, [
      'I should compute.</think>\n<tool_call>\n<function=calculator>\n<parameter=expression>\n17*23\n</parameter>\n</function>\n</tool_call>',
      'Got it.</think>It is 391.',
    ]);
    s.send(['What is 17*23?']);
    await s.done;
    restore();
    const out = s.text();
    expect(out).toContain('thinking: I should compute.');
    expect(out).toMatch(/\[tool\] calculator\(\{"expression": "17\*23"\}\) -> \{.*391/);
    expect(out).toContain('It is 391.');
    expect(s.bodies).toHaveLength(2);
    const second = s.bodies[1].messages;
    expect(second.map((m: any) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(second[1].tool_calls[0].function.name).toBe('calculator');
    expect(second[2].content).toContain('391');
    expect(s.bodies[0].tools.map((t: any) => t.function.name)).toContain('calculator');
  });

  it('/think off switches thinking per request, history is kept, /reset clears it', async () => {
    const s = await session([], { tools: false });
    const restore = scriptOutput(s.model, 'Hello.');
    s.send(['Hi', '/think off', 'Again', '/reset', 'Fresh', '/exit', 'ignored']);
    await s.done;
    restore();
    expect(s.bodies.map((b) => b.chat_template_kwargs.enable_thinking)).toEqual([true, false, false]);
    expect(s.bodies[1].messages.map((m: any) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(s.bodies[2].messages).toHaveLength(1);
    expect(s.text()).toContain('thinking off');
  });
});

describe('nemotron serve', () => {
  it('resolves the built-in model to <package root>/models/default and names a missing one clearly', () => {
    expect(defaultModelDir()).toBe(join(TINY_CHAT, '..', '..', '..', '..', 'models', 'default'));
    expect(() => requireModelDir('/nonexistent/models/default', true)).toThrow(/built-in model is missing .* pass --model DIR/);
    expect(() => requireModelDir('/nonexistent/x', false)).toThrow(/not a model directory/);
    expect(() => requireModelDir(TINY_CHAT, false)).not.toThrow();
  });

  it('starts from NIM env vars, serves /v1/models, stops on SIGTERM', async () => {
    const root = join(TINY_CHAT, '..', '..', '..', '..');
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli', 'main.ts'), 'serve', '--model', TINY_CHAT, '--host', '127.0.0.1'], {
      cwd: root,
      env: { ...process.env, NIM_SERVED_MODEL_NAME: 'env-named', NIM_SERVER_PORT: '0', NIM_LOG_LEVEL: 'INFO', NIM_MAX_MODEL_LEN: '1024' },
    });
    let err = '';
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listen line: ${err}`)), 30_000);
      child.stderr.on('data', (d) => {
        err += d;
        const m = /serving "env-named" at (http:\/\/[^\s]+)\/v1/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve(m[1]);
        }
      });
    });
    const models = (await (await fetch(`${url}/v1/models`)).json()) as any;
    expect(models.data[0]).toMatchObject({ id: 'env-named', max_model_len: 1024 });
    // structured logs: JSON lines with ts/level/msg
    const logLine = err.split('\n').find((l) => l.startsWith('{'))!;
    expect(JSON.parse(logLine)).toMatchObject({ level: 'info', msg: expect.any(String), ts: expect.any(String) });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
