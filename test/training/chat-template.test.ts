// The demo model's own chat template (models/default/chat_template.jinja, written for this project) must
// render exactly what the reference Nemotron 3 Nano template renders, for the template goldens' cases and
// for generated training conversations. The reference is read from ../shared/fixtures at test time.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../src/template/index.js';
import { generateConversations } from '../../src/training/synthetic.js';
import { readCases, readTemplate, SKIP_REASON, TEMPLATE_AVAILABLE } from '../template/fixture.js';

const DEMO_TEMPLATE = fileURLToPath(new URL('../../models/default/chat_template.jinja', import.meta.url));

describe.skipIf(!TEMPLATE_AVAILABLE)('demo chat template == reference template', () => {
  if (!TEMPLATE_AVAILABLE) console.warn(SKIP_REASON);
  const reference = TEMPLATE_AVAILABLE ? new ChatTemplate(readTemplate()) : undefined;
  const demo = existsSync(DEMO_TEMPLATE) ? new ChatTemplate(readFileSync(DEMO_TEMPLATE, 'utf8')) : undefined;

  it('is not a copy of the reference', () => {
    expect(demo).toBeDefined();
    const src = readFileSync(DEMO_TEMPLATE, 'utf8');
    expect(src).not.toContain('render_extra_keys');
    expect(src.length).toBeLessThan(readTemplate().length);
  });

  const spec = readCases();
  for (const c of spec.cases) {
    const tools = typeof c.tools === 'string' ? spec.tools[c.tools] : c.tools;
    for (const addGenerationPrompt of [false, true]) {
      it(`golden case ${c.name} (generation prompt ${addGenerationPrompt})`, () => {
        const options = { tools: tools ?? null, templateKwargs: c.kwargs ?? {}, addGenerationPrompt };
        expect(demo!.render(c.messages, options)).toBe(reference!.render(c.messages, options));
      });
    }
  }

  it('generated training conversations, every kwarg combination', () => {
    const convs = generateConversations({ seed: 7, count: 150 });
    let compared = 0;
    for (const conv of convs) {
      for (const enableThinking of [true, false]) {
        for (const truncateHistoryThinking of [true, false]) {
          const options = { tools: conv.tools ?? null, enableThinking, truncateHistoryThinking, addGenerationPrompt: false };
          expect(demo!.render(conv.messages, options)).toBe(reference!.render(conv.messages, options));
          compared++;
        }
      }
    }
    expect(compared).toBe(600);
  });
});
