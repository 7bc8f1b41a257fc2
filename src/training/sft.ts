/**
 * SFT data preparation: a chat conversation (OpenAI messages + tools) becomes one or more training
 * sequences with a role-based loss mask, as the Nemotron 3 Nano SFT pipeline prepares them
 * (agents-and-training.md 2.2):
 *
 * - A conversation with reasoning is rendered with `enable_thinking = true` and split into one sequence per
 *   user turn: sequence i holds the messages before user turn i+1; only the assistant steps after its last
 *   user message are trained (earlier turns are context, and the template has dropped their reasoning, as at
 *   inference). A conversation without reasoning is one sequence, rendered with `enable_thinking = false`,
 *   with every assistant turn trained.
 * - Assistant spans are found by rendering, never guessed: the text before an assistant turn is the render
 *   of the messages before it with the generation prompt (so `<|im_start|>assistant\n<think>\n` or
 *   `...<think></think>` is context), and the turn ends where the render including it ends. Every such
 *   prefix must be a prefix of the full render, or the record is rejected.
 * - The trained span is what the model generates: reasoning, `</think>`, the answer or tool-call XML, and
 *   `<|im_end|>`; the newline the template writes after `<|im_end|>` is context.
 */
import type { ChatTemplate } from '../template/index.js';

/** The minimal conversation shape this module needs (OpenAI messages, optional tools). */
export interface SftConversation {
  id?: string;
  messages: readonly SftMessage[];
  tools?: readonly unknown[] | null;
}

export interface SftMessage {
  role: string;
  content?: unknown;
  reasoning_content?: unknown;
  tool_calls?: unknown;
}

/** A piece of rendered text and whether its tokens carry loss. */
export interface SftSegment {
  text: string;
  trained: boolean;
}

/** One training sequence as text segments. */
export interface SftTextSequence {
  id: string;
  segments: SftSegment[];
  /** `enable_thinking` it was rendered with. */
  thinking: boolean;
}

/** One training sequence as token ids with a per-token loss mask (1 on tokens the model must produce). */
export interface SftSequence {
  id: string;
  inputIds: number[];
  /** Unshifted: lossMask[j] = 1 when token j itself is an assistant token. */
  lossMask: Uint8Array;
}

/** Anything that turns text into ids without adding special tokens of its own. */
export interface TextEncoder {
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
}

/** Thrown when incremental renders are not prefixes of the full render (the record cannot be split safely). */
export class SftRenderError extends Error {
  constructor(
    readonly conversationId: string,
    message: string,
  ) {
    super(`${conversationId}: ${message}`);
    this.name = 'SftRenderError';
  }
}

const END_OF_TURN = '<|im_end|>';

function hasReasoning(m: SftMessage): boolean {
  return m.role === 'assistant' && typeof m.reasoning_content === 'string' && m.reasoning_content.trim().length > 0;
}

/** Splits a conversation into training sequences (text level). @throws SftRenderError */
export function splitConversation(conv: SftConversation, template: ChatTemplate): SftTextSequence[] {
  const id = conv.id ?? 'conversation';
  const msgs = conv.messages;
  const thinking = msgs.some(hasReasoning);
  const plan: { end: number; trained: number[] }[] = [];
  if (thinking) {
    const users = msgs.flatMap((m, i) => (m.role === 'user' ? [i] : []));
    users.forEach((u, k) => {
      const end = k + 1 < users.length ? users[k + 1] : msgs.length;
      const trained: number[] = [];
      for (let i = u + 1; i < end; i++) if (msgs[i].role === 'assistant') trained.push(i);
      if (trained.length) plan.push({ end, trained });
    });
  } else {
    const trained = msgs.flatMap((m, i) => (m.role === 'assistant' ? [i] : []));
    if (trained.length) plan.push({ end: msgs.length, trained });
  }
  return plan.map(({ end, trained }, k) => {
    const seqId = plan.length > 1 ? `${id}#${k}` : id;
    return { id: seqId, thinking, segments: segmentsOf(seqId, msgs.slice(0, end), trained, conv.tools ?? null, thinking, template) };
  });
}

function segmentsOf(id: string, msgs: readonly SftMessage[], trained: number[], tools: readonly unknown[] | null, thinking: boolean, template: ChatTemplate): SftSegment[] {
  const render = (upTo: number, prompt: boolean, enableThinking: boolean): string =>
    template.render(msgs.slice(0, upTo), { tools, addGenerationPrompt: prompt, enableThinking });
  const full = render(msgs.length, false, thinking);
  const segments: SftSegment[] = [];
  let cursor = 0;
  const push = (text: string, isTrained: boolean): void => {
    if (text.length) segments.push({ text, trained: isTrained });
  };
  for (const a of trained) {
    const before = render(a, true, hasReasoning(msgs[a]));
    const through = render(a + 1, false, thinking);
    if (!full.startsWith(before) || !through.startsWith(before) || !full.startsWith(through) || before.length < cursor) {
      throw new SftRenderError(id, `render up to message ${a} is not a prefix of the full render`);
    }
    const span = full.slice(before.length, through.length);
    const stop = span.lastIndexOf(END_OF_TURN);
    if (stop < 0) throw new SftRenderError(id, `assistant message ${a} renders without ${END_OF_TURN}`);
    const cut = stop + END_OF_TURN.length;
    push(full.slice(cursor, before.length), false);
    push(span.slice(0, cut), true);
    push(span.slice(cut), false);
    cursor = through.length;
  }
  push(full.slice(cursor), false);
  return segments;
}

/** Tokenizes each segment on its own (no added special tokens) and builds the unshifted loss mask. */
export function tokenizeSegments(seq: SftTextSequence, tokenizer: TextEncoder): SftSequence {
  const ids: number[] = [];
  const mask: number[] = [];
  for (const s of seq.segments) {
    const t = tokenizer.encode(s.text, { addSpecialTokens: false });
    for (const id of t) {
      ids.push(id);
      mask.push(s.trained ? 1 : 0);
    }
  }
  return { id: seq.id, inputIds: ids, lossMask: Uint8Array.from(mask) };
}

/** Statistics of a preparation run. */
export interface SftStats {
  conversations: number;
  sequences: number;
  rejected: { id: string; reason: string }[];
  tokens: number;
  trainedTokens: number;
  /** Sequences whose segment-wise tokenization differs from tokenizing the whole text at once. */
  boundaryMismatches: number;
}

/** Renders, splits and tokenizes conversations; records that cannot be split are reported, not fatal. */
export function prepareSft(convs: Iterable<SftConversation>, template: ChatTemplate, tokenizer: TextEncoder, opts: { checkBoundaries?: boolean } = {}): { sequences: SftSequence[]; stats: SftStats } {
  const stats: SftStats = { conversations: 0, sequences: 0, rejected: [], tokens: 0, trainedTokens: 0, boundaryMismatches: 0 };
  const sequences: SftSequence[] = [];
  for (const conv of convs) {
    stats.conversations++;
    let texts: SftTextSequence[];
    try {
      texts = splitConversation(conv, template);
    } catch (e) {
      if (!(e instanceof SftRenderError)) throw e;
      stats.rejected.push({ id: conv.id ?? `#${stats.conversations - 1}`, reason: e.message });
      continue;
    }
    for (const t of texts) {
      const seq = tokenizeSegments(t, tokenizer);
      if (opts.checkBoundaries) {
        const whole = tokenizer.encode(t.segments.map((s) => s.text).join(''), { addSpecialTokens: false });
        if (whole.length !== seq.inputIds.length || whole.some((v, i) => v !== seq.inputIds[i])) stats.boundaryMismatches++;
      }
      sequences.push(seq);
      stats.sequences++;
      stats.tokens += seq.inputIds.length;
      for (const m of seq.lossMask) stats.trainedTokens += m;
    }
  }
  return { sequences, stats };
}

/**
 * Shifts a mask for next-token training within one sequence: aligned[j] = mask[j + 1] and the last position
 * is 0, so position j carries loss when token j+1 is an assistant token and no label crosses into the next
 * packed sequence.
 */
export function alignMask(mask: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(mask.length);
  for (let j = 0; j + 1 < mask.length; j++) out[j] = mask[j + 1] ? 1 : 0;
  return out;
}
