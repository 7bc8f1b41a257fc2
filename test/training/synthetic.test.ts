import { describe, expect, it } from 'vitest';
import { runTool } from '../../src/tools/index.js';
import { generateConversations, type Conversation, type TurnKind } from '../../src/training/synthetic.js';

const convs = generateConversations({ seed: 11, count: 3000 });

function finalAnswerAfter(c: Conversation, userIndex: number): string {
  let answer = '';
  for (let i = userIndex + 1; i < c.messages.length && c.messages[i].role !== 'user'; i++) {
    const m = c.messages[i];
    if (m.role === 'assistant' && !m.tool_calls) answer = m.content ?? '';
  }
  return answer;
}

describe('synthetic conversations', () => {
  it('are reproducible from the seed', () => {
    expect(generateConversations({ seed: 11, count: 50 })).toEqual(convs.slice(0, 50));
    expect(JSON.stringify(generateConversations({ seed: 12, count: 50 }))).not.toBe(JSON.stringify(convs.slice(0, 50)));
  });

  it('cover every turn kind', () => {
    const seen = new Set(convs.flatMap((c) => c.turns.map((t) => t.kind)));
    const all: TurnKind[] = ['calc', 'calc_followup', 'calc_no_tool', 'calc_error', 'parallel_calc', 'unit', 'unit_followup', 'unit_error', 'unit_no_tool', 'clock', 'clock_followup', 'clock_no_tool', 'fact', 'smalltalk', 'unservable'];
    for (const k of all) expect(seen.has(k), k).toBe(true);
    const thinking = convs.filter((c) => c.thinking).length / convs.length;
    expect(thinking).toBeGreaterThan(0.45);
    expect(thinking).toBeLessThan(0.65);
    expect(convs.some((c) => c.turns.length === 3)).toBe(true);
    expect(convs.some((c) => c.tools === null)).toBe(true);
  });

  it('carry reasoning exactly when thinking is on', () => {
    for (const c of convs) {
      for (const m of c.messages.filter((m) => m.role === 'assistant')) {
        expect(m.reasoning_content !== undefined, c.id).toBe(c.thinking);
      }
    }
  });

  it('only call offered tools, and every tool result is what the tool code returns', () => {
    for (const c of convs) {
      const offered = new Set((c.tools ?? []).map((t) => t.function.name));
      const now = () => new Date(0); // clock results depend on the conversation's own clock; checked by shape below
      for (let i = 0; i < c.messages.length; i++) {
        const m = c.messages[i];
        if (!m.tool_calls) continue;
        m.tool_calls.forEach((tc, j) => {
          expect(offered.has(tc.function.name), `${c.id} ${tc.function.name}`).toBe(true);
          const result = c.messages[i + 1 + j];
          expect(result.role).toBe('tool');
          expect(result.tool_call_id).toBe(tc.id);
          if (tc.function.name !== 'get_current_time') expect(result.content).toBe(runTool(tc.function.name, tc.function.arguments, { now }));
          else expect(JSON.parse(result.content!)).toMatchObject({ time: expect.stringMatching(/^\d\d:\d\d$/) });
        });
      }
    }
  });

  it('final answers contain the computed results', () => {
    let checked = 0;
    for (const c of convs) {
      for (const t of c.turns) {
        if (!t.answerIncludes) continue;
        const answer = finalAnswerAfter(c, t.userIndex);
        for (const want of t.answerIncludes) expect(answer, `${c.id}: ${answer}`).toContain(want);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1500);
  });

  it('expectations match the calls the assistant makes', () => {
    for (const c of convs) {
      for (const t of c.turns) {
        const next = c.messages[t.userIndex + 1];
        expect(next.role).toBe('assistant');
        const calls = (next.tool_calls ?? []).map((tc) => ({ name: tc.function.name, arguments: JSON.parse(tc.function.arguments) }));
        expect(calls).toEqual(t.calls);
      }
    }
  });

  it('can be restricted to kinds and to thinking on/off', () => {
    const only = generateConversations({ seed: 3, count: 200, kinds: ['calc'], thinking: false, turns: 1 });
    for (const c of only) {
      expect(c.turns.map((t) => t.kind)).toEqual(['calc']);
      expect(c.thinking).toBe(false);
      expect(c.tools!.map((t) => t.function.name)).toContain('calculator');
    }
  });
});
