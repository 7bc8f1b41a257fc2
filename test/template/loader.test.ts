// Finding chat templates in a model directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TemplateNotFoundError, loadChatTemplate, loadChatTemplates } from '../../src/template/index.js';
import { SKIP_REASON, TEMPLATE_AVAILABLE, readExpected, readTemplate } from './fixture.js';

const root = mkdtempSync(join(tmpdir(), 'nemotron-template-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function modelDir(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [file, body] of Object.entries(files)) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), body);
  }
  return dir;
}

const msgs = [{ role: 'user', content: 'hi' }];

describe('loadChatTemplates', () => {
  it('reads chat_template (string) and named special tokens from tokenizer_config.json', async () => {
    const dir = modelDir('string', {
      'tokenizer_config.json': JSON.stringify({
        chat_template: '{{ bos_token }}{{ messages[0].content }}{{ eos_token }}',
        bos_token: { __type: 'AddedToken', content: '<s>' },
        eos_token: '</s>',
      }),
    });
    const t = await loadChatTemplate(dir);
    expect(t.name).toBe('default');
    expect(t.render(msgs)).toBe('<s>hi</s>');
  });

  it('selects among named templates like transformers (tool_use when tools are given)', async () => {
    const dir = modelDir('named', {
      'tokenizer_config.json': JSON.stringify({
        chat_template: [
          { name: 'default', template: 'D:{{ messages[0].content }}' },
          { name: 'tool_use', template: 'T:{{ tools|length }}' },
        ],
      }),
    });
    const set = await loadChatTemplates(dir);
    expect(set.select().render(msgs)).toBe('D:hi');
    expect(set.select(undefined, true).render(msgs, { tools: [{ name: 'f' }] })).toBe('T:1');
    expect(set.select('tool_use').name).toBe('tool_use');
    expect(() => set.select('rag')).toThrow(TemplateNotFoundError);
  });

  it('chat_template.jinja and additional_chat_templates/ take precedence over tokenizer_config.json', async () => {
    const dir = modelDir('jinja', {
      'tokenizer_config.json': JSON.stringify({ chat_template: 'old', eos_token: '<|im_end|>' }),
      'chat_template.jinja': 'new {{ eos_token }}',
      'additional_chat_templates/rag.jinja': 'rag',
    });
    const set = await loadChatTemplates(dir);
    expect(set.select().render(msgs)).toBe('new <|im_end|>');
    expect(set.select('rag').render(msgs)).toBe('rag');
  });

  it('throws TemplateNotFoundError when the directory has no template', async () => {
    const dir = modelDir('none', { 'tokenizer_config.json': JSON.stringify({ eos_token: 'x' }) });
    await expect(loadChatTemplates(dir)).rejects.toBeInstanceOf(TemplateNotFoundError);
    await expect(loadChatTemplates(join(root, 'missing-dir'))).rejects.toBeInstanceOf(TemplateNotFoundError);
  });

  it.skipIf(!TEMPLATE_AVAILABLE)('loads the real template from a model directory (chat_template.jinja)', async () => {
    if (!TEMPLATE_AVAILABLE) console.warn(SKIP_REASON);
    const dir = modelDir('nemotron', { 'chat_template.jinja': readTemplate() });
    const t = await loadChatTemplate(dir);
    expect(t.render([{ role: 'user', content: 'Hello there!' }])).toBe(readExpected('no_system'));
  });
});
