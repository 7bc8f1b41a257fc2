/**
 * Assembles one chat choice's output from decoded text: reasoning / content / tool-call deltas in the OpenAI
 * streaming shape and the final message. Three modes: free text (the Nemotron reasoning + XML tool-call
 * parsers, tool_choice auto), `named` (tool_choice names a function: the constrained content *is* its JSON
 * arguments) and `required` (the constrained content is a JSON array of {name, parameters}, vLLM's shape).
 */
import { makeToolCallId, OutputParser, type OutputDelta, type ParsedToolCall } from '../parsers/index.js';

export type ReasoningFields = 'both' | 'reasoning' | 'reasoning_content';

/** A chat delta on the wire. */
export interface WireDelta {
  role?: 'assistant';
  content?: string | null;
  reasoning?: string;
  reasoning_content?: string;
  tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } }>;
}

export interface AssemblerOptions {
  mode: 'text' | 'named' | 'required';
  thinking: boolean;
  tools: readonly unknown[] | null;
  /** Parse XML tool calls in text mode (tool_choice auto with tools). */
  parseToolCalls: boolean;
  forceNonemptyContent: boolean;
  namedTool?: string;
  reasoningFields: ReasoningFields;
  includeReasoning: boolean;
  /** parallel_tool_calls false: only the first parsed call is kept (text mode). */
  parallelToolCalls?: boolean;
}

export interface FinalMessage {
  content: string | null;
  reasoning: string | null;
  toolCalls: ParsedToolCall[];
}

/** Splits a streamed JSON array into its complete top-level elements. */
class ArrayElements {
  private buf = '';
  private pos = 0;
  private depth = 0;
  private inString = false;
  private escape = false;
  private start = -1;

  feed(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    for (; this.pos < this.buf.length; this.pos++) {
      const c = this.buf[this.pos];
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (c === '\\') this.escape = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (this.depth === 1 && this.start < 0 && !/[\s,\]]/.test(c)) this.start = this.pos;
      if (c === '"') this.inString = true;
      else if (c === '[' || c === '{') this.depth++;
      else if (c === ']' || c === '}') {
        this.depth--;
        if (this.depth === 1 && this.start >= 0) {
          out.push(this.buf.slice(this.start, this.pos + 1));
          this.start = -1;
        }
      }
    }
    return out;
  }
}

export class ChatAssembler {
  private readonly parser: OutputParser;
  private content = '';
  private readonly calls: ParsedToolCall[] = [];
  private readonly elements = new ArrayElements();

  constructor(readonly opts: AssemblerOptions) {
    this.parser = new OutputParser({
      thinking: opts.thinking,
      tools: opts.tools,
      parseToolCalls: opts.mode === 'text' && opts.parseToolCalls,
      forceNonemptyContent: opts.mode === 'text' && opts.forceNonemptyContent,
    });
  }

  /** Feeds decoded text; returns the wire delta it adds, or null. */
  feed(text: string): WireDelta | null {
    return text === '' ? null : this.toWire(this.parser.feed(text));
  }

  /** End of output: the last delta and the final message. */
  finish(): { delta: WireDelta | null; message: FinalMessage } {
    const { delta, result } = this.parser.finish();
    const wire = this.toWire(delta);
    let message: FinalMessage;
    if (this.opts.mode === 'text') message = { content: result.content, reasoning: result.reasoning, toolCalls: this.opts.parallelToolCalls === false ? result.toolCalls.slice(0, 1) : result.toolCalls };
    else if (this.calls.length) message = { content: null, reasoning: result.reasoning, toolCalls: this.calls };
    else message = { content: result.content, reasoning: result.reasoning, toolCalls: [] }; // unfinished JSON stays visible
    if (!this.opts.includeReasoning) message.reasoning = null;
    return { delta: wire, message };
  }

  private toWire(d: OutputDelta | null): WireDelta | null {
    if (!d) return null;
    const w: WireDelta = {};
    if (d.reasoning !== undefined && this.opts.includeReasoning) {
      if (this.opts.reasoningFields !== 'reasoning') w.reasoning_content = d.reasoning;
      if (this.opts.reasoningFields !== 'reasoning_content') w.reasoning = d.reasoning;
    }
    if (this.opts.mode === 'text') {
      if (d.content !== undefined) w.content = d.content;
      const calls = d.toolCalls?.filter((c) => this.opts.parallelToolCalls !== false || c.index === 0);
      if (calls?.length) w.tool_calls = calls.map((c) => ({ ...c, function: { ...c.function } }));
    } else if (d.content !== undefined) {
      const calls = this.opts.mode === 'named' ? this.named(d.content) : this.required(d.content);
      if (calls.length) w.tool_calls = calls;
    }
    return Object.keys(w).length ? w : null;
  }

  private named(text: string): NonNullable<WireDelta['tool_calls']> {
    const out: NonNullable<WireDelta['tool_calls']> = [];
    if (this.calls.length === 0) {
      const id = makeToolCallId();
      this.calls.push({ id, type: 'function', function: { name: this.opts.namedTool!, arguments: '' } });
      out.push({ index: 0, id, type: 'function', function: { name: this.opts.namedTool!, arguments: '' } });
    }
    this.calls[0].function.arguments += text;
    out.push({ index: 0, function: { arguments: text } });
    return out;
  }

  private required(text: string): NonNullable<WireDelta['tool_calls']> {
    this.content += text;
    const out: NonNullable<WireDelta['tool_calls']> = [];
    for (const el of this.elements.feed(text)) {
      let call: { name?: unknown; parameters?: unknown };
      try {
        call = JSON.parse(el) as typeof call;
      } catch {
        continue;
      }
      if (typeof call.name !== 'string') continue;
      const index = this.calls.length;
      const id = makeToolCallId();
      const args = JSON.stringify(call.parameters ?? {});
      this.calls.push({ id, type: 'function', function: { name: call.name, arguments: args } });
      out.push({ index, id, type: 'function', function: { name: call.name, arguments: '' } }, { index, function: { arguments: args } });
    }
    return out;
  }
}
