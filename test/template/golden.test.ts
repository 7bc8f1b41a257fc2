// Byte-for-byte equality with Python Jinja2 renders of the real Nemotron 3 Nano template
// (goldens written by scripts/template/make_goldens.py).
import { describe, expect, it } from 'vitest';
import { ChatTemplate } from '../../src/template/index.js';
import { SKIP_REASON, TEMPLATE_AVAILABLE, readCases, readExpected, readTemplate } from './fixture.js';

if (!TEMPLATE_AVAILABLE) console.warn(SKIP_REASON);

describe.skipIf(!TEMPLATE_AVAILABLE)('Nemotron 3 Nano template goldens (Python Jinja2)', () => {
  const spec = readCases();
  const template = TEMPLATE_AVAILABLE ? new ChatTemplate(readTemplate()) : undefined;

  it('has at least 15 cases', () => {
    expect(spec.cases.length).toBeGreaterThanOrEqual(15);
  });

  for (const c of spec.cases) {
    const tools = typeof c.tools === 'string' ? spec.tools[c.tools] : c.tools;
    const options = {
      tools: tools ?? null,
      templateKwargs: c.kwargs ?? {},
      addGenerationPrompt: c.add_generation_prompt ?? false,
    };
    it(`${c.name}: identical to Python (messages as given)`, () => {
      expect(template!.render(c.messages, { ...options, normalize: false })).toBe(readExpected(c.name));
    });
    it(`${c.name}: identical to Python (through normalisation)`, () => {
      expect(template!.render(c.messages, options)).toBe(readExpected(c.name));
    });
  }
});
