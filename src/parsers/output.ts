// Output parser for Nemotron 3 Nano: reasoning, answer content and tool calls from generated text,
// incrementally (`feed` decoded pieces, get OpenAI-shaped deltas) or in one go (`parseOutput`).
// Feeding the same text in any split yields the same concatenated deltas and the same final result.
//
// Rules (serving-spec 0.3-0.5, 3.1, 3.2):
// - thinking on: text before `</think>` (or before `<tool_call>` when tools are parsed) is reasoning;
//   an echoed leading `<think>` is dropped; with no closing tag the output was truncated: all of it is
//   reasoning and content is null. Thinking off: there is no reasoning.
// - reasoning and each run of content are trimmed; content runs around tool calls join with "\n";
//   empty results are null.
// - tool calls: see tool-calls.ts. Malformed tool-call text stays in the content.
// - forceNonemptyContent (chat_template_kwargs.force_nonempty_content): when the message ends with no
//   content and no tool calls, the reasoning is also returned (and streamed at finish) as content.
import { ReasoningSplitter } from './reasoning.js';
import { ToolCallParser, type ToolCallEvent } from './tool-calls.js';
import { ContentAssembler, TrimmedRun } from './trim.js';
import type { OutputDelta, ParsedOutput, ParsedToolCall, ToolCallDelta } from './types.js';

/** Options of `OutputParser` / `parseOutput`. */
export interface OutputParserOptions {
  /** Whether the prompt opened a reasoning block (`enable_thinking`, default true). */
  thinking?: boolean;
  /** The request's tools (OpenAI or bare form). */
  tools?: readonly unknown[] | null;
  /** Parse tool calls (default: when `tools` is non-empty; pass false for tool_choice "none"). */
  parseToolCalls?: boolean;
  /** `force_nonempty_content`: copy reasoning into empty content at the end. */
  forceNonemptyContent?: boolean;
  /** Tool-call id generator (default `chatcmpl-tool-<32 hex>`). */
  idGenerator?: () => string;
}

/** Result of `OutputParser.finish`: the last delta (if any) and the whole message. */
export interface OutputFinish {
  delta: OutputDelta | null;
  result: ParsedOutput;
}

/** Incremental output parser (see module comment). */
export class OutputParser {
  private readonly splitter: ReasoningSplitter;
  private readonly tools: ToolCallParser | null;
  private readonly force: boolean;
  private readonly thinking: boolean;
  private readonly reasoningRun = new TrimmedRun();
  private readonly contentRuns = new ContentAssembler();
  private reasoning = '';
  private content = '';
  private readonly calls: ParsedToolCall[] = [];
  private finished = false;

  constructor(options: OutputParserOptions = {}) {
    const parseTools = options.parseToolCalls ?? (options.tools != null && options.tools.length > 0);
    this.tools = parseTools ? new ToolCallParser({ tools: options.tools, idGenerator: options.idGenerator }) : null;
    this.thinking = options.thinking ?? true;
    this.splitter = new ReasoningSplitter({ thinking: this.thinking, endOnToolCall: parseTools });
    this.force = options.forceNonemptyContent ?? false;
  }

  /** Feed the next piece of decoded text; returns what it adds, or null. */
  feed(text: string): OutputDelta | null {
    if (this.finished) throw new Error('OutputParser.feed called after finish');
    const delta: OutputDelta = {};
    const split = this.splitter.feed(text);
    this.addReasoning(delta, split.reasoning);
    this.addRest(delta, split.rest, false);
    return isEmpty(delta) ? null : delta;
  }

  /** End of generation: flush held text, close open calls, apply forceNonemptyContent. */
  finish(): OutputFinish {
    if (this.finished) throw new Error('OutputParser.finish called twice');
    this.finished = true;
    const delta: OutputDelta = {};
    const split = this.splitter.finish();
    this.addReasoning(delta, split.reasoning);
    this.addRest(delta, '', true);
    if (this.force && this.content === '' && this.calls.length === 0) {
      // Nothing to stream if reasoning is empty too; the result still carries "" (non-null).
      if (this.reasoning !== '') delta.content = (delta.content ?? '') + this.reasoning;
      this.content = this.reasoning;
      return { delta: isEmpty(delta) ? null : delta, result: this.result(true) };
    }
    return { delta: isEmpty(delta) ? null : delta, result: this.result(false) };
  }

  private result(forced: boolean): ParsedOutput {
    return {
      reasoning: this.reasoning === '' ? null : this.reasoning,
      content: this.content === '' && !forced ? null : this.content,
      toolCalls: this.calls.map((c) => ({ id: c.id, type: 'function', function: { ...c.function } })),
      finishReason: this.calls.length > 0 ? 'tool_calls' : null,
      reasoningClosed: !this.thinking || this.splitter.closedByTag,
    };
  }

  private addReasoning(delta: OutputDelta, raw: string): void {
    if (raw === '') return;
    const out = this.reasoningRun.push(raw);
    if (out === '') return;
    this.reasoning += out;
    delta.reasoning = (delta.reasoning ?? '') + out;
  }

  private addContent(delta: OutputDelta, raw: string): void {
    const out = this.contentRuns.push(raw);
    if (out === '') return;
    this.content += out;
    delta.content = (delta.content ?? '') + out;
  }

  private addRest(delta: OutputDelta, rest: string, eof: boolean): void {
    if (!this.tools) {
      if (rest !== '') this.addContent(delta, rest);
      return;
    }
    const events = rest !== '' ? this.tools.feed(rest) : [];
    if (eof) events.push(...this.tools.finish());
    for (const e of events) this.applyEvent(delta, e);
  }

  private applyEvent(delta: OutputDelta, e: ToolCallEvent): void {
    switch (e.kind) {
      case 'text':
        this.addContent(delta, e.text);
        return;
      case 'call': {
        this.contentRuns.breakRun();
        this.calls.push({ id: e.id, type: 'function', function: { name: e.name, arguments: '' } });
        pushCall(delta, { index: e.index, id: e.id, type: 'function', function: { name: e.name, arguments: '' } });
        return;
      }
      case 'args':
        this.calls[e.index]!.function.arguments += e.fragment;
        pushCall(delta, { index: e.index, function: { arguments: e.fragment } });
        return;
      case 'end':
        this.contentRuns.breakRun();
        return;
    }
  }
}

function pushCall(delta: OutputDelta, d: ToolCallDelta): void {
  (delta.toolCalls ??= []).push(d);
}

function isEmpty(d: OutputDelta): boolean {
  return d.reasoning === undefined && d.content === undefined && d.toolCalls === undefined;
}

/** Parse a whole generated text (same rules and result as feeding it to an `OutputParser`). */
export function parseOutput(text: string, options: OutputParserOptions = {}): ParsedOutput {
  const parser = new OutputParser(options);
  parser.feed(text);
  return parser.finish().result;
}
