// Incremental parser for Qwen3-Coder style XML tool calls, the format Nemotron 3 Nano's template
// teaches (serving-spec 2.3 rule 5, 3.2):
//
//   <tool_call>\n<function=NAME>\n<parameter=KEY>\nVALUE\n</parameter>\n...</function>\n</tool_call>
//
// Tolerances (the model's known slips, serving-spec 2.5): a missing `</parameter>` (the value ends at
// the next `<parameter=`, `</function>`, `</tool_call>`, `<tool_call>` or end of output), a missing
// `</tool_call>` or `</function>`, several `<function=...>` blocks inside one `<tool_call>`, stray text
// inside a function (ignored). One newline is stripped at each end of a value.
//
// A block becomes a tool call once `<tool_call>`, optional whitespace and `<function=NAME>` have been
// read and NAME is one of the request's tools (any name when no tools were given); from then on it
// is committed and streamed. A block that fails before that point (`<tool_call>` not followed by
// `<function=`, an unknown or unterminated name) is passed through verbatim as text, never thrown.
// Arguments are streamed one complete parameter at a time as fragments of one JSON object.
import { randomBytes } from 'node:crypto';
import { TAGS, findFirst, heldSuffix } from './scan.js';
import { ToolSchemas, encodeParameterValue } from './tool-values.js';
import { pyJsonDumps } from '../template/python-format.js';

/** What the tool-call parser reports, in output order. */
export type ToolCallEvent =
  | { kind: 'text'; text: string }
  | { kind: 'call'; index: number; id: string; name: string }
  | { kind: 'args'; index: number; fragment: string }
  | { kind: 'end'; index: number };

/** Options of `ToolCallParser`. */
export interface ToolCallParserOptions {
  /** The request's tools; calls to other names stay text. Empty/omitted: any name, untyped values. */
  tools?: readonly unknown[] | null;
  /** Tool-call id generator (default `chatcmpl-tool-<32 hex>`, like vLLM). */
  idGenerator?: () => string;
}

/** vLLM-style tool-call id: `chatcmpl-tool-` + 32 random hex digits. */
export function makeToolCallId(): string {
  return `chatcmpl-tool-${randomBytes(16).toString('hex')}`;
}

type State = 'text' | 'open' | 'name' | 'body' | 'pname' | 'value' | 'after';

const MAX_NAME = 256;
const TEXT_TAGS = [TAGS.toolCallOpen];
const BODY_TAGS = [TAGS.parameterOpen, TAGS.functionClose, TAGS.toolCallClose, TAGS.toolCallOpen];
const VALUE_TAGS = [TAGS.parameterClose, TAGS.parameterOpen, TAGS.functionClose, TAGS.toolCallClose, TAGS.toolCallOpen];

const leadingSpace = (s: string): number => s.length - s.replace(/^\s+/, '').length;

/** Incremental tool-call parser; feed text pieces, get events (see module comment). */
export class ToolCallParser {
  private readonly schemas: ToolSchemas;
  private readonly newId: () => string;
  private state: State = 'text';
  private buf = '';
  /** Text of a block that is not yet known to be a tool call (emitted as text if it is not). */
  private raw = '';
  private valueParts: string[] = [];
  private calls = 0;
  private current: { index: number; name: string; keys: Set<string>; empty: boolean } | null = null;
  private paramKey = '';

  constructor(options: ToolCallParserOptions = {}) {
    this.schemas = new ToolSchemas(options.tools);
    this.newId = options.idGenerator ?? makeToolCallId;
  }

  /** Number of tool calls started so far. */
  get callCount(): number {
    return this.calls;
  }

  feed(text: string): ToolCallEvent[] {
    this.buf += text;
    return this.run(false);
  }

  /** End of output: close an open call, flush held text. */
  finish(): ToolCallEvent[] {
    return this.run(true);
  }

  private run(eof: boolean): ToolCallEvent[] {
    const events: ToolCallEvent[] = [];
    while (this.step(events, eof));
    return events;
  }

  private text(events: ToolCallEvent[], text: string): void {
    if (text !== '') events.push({ kind: 'text', text });
  }

  /** Give up on a block: what was read of it is ordinary text; scanning resumes at `rest`. */
  private reject(events: ToolCallEvent[], consumed: string, rest: string): true {
    this.text(events, this.raw + consumed);
    this.raw = '';
    this.buf = rest;
    this.state = 'text';
    return true;
  }

  private closeCall(events: ToolCallEvent[]): void {
    const c = this.current;
    if (!c) return;
    events.push({ kind: 'args', index: c.index, fragment: c.empty ? '{}' : '}' });
    events.push({ kind: 'end', index: c.index });
    this.current = null;
  }

  private addParam(events: ToolCallEvent[], value: string): void {
    const c = this.current;
    if (!c || c.keys.has(this.paramKey)) return; // first occurrence of a key wins
    c.keys.add(this.paramKey);
    let v = value.startsWith('\n') ? value.slice(1) : value;
    if (v.endsWith('\n')) v = v.slice(0, -1);
    const json = encodeParameterValue(v, this.schemas.property(c.name, this.paramKey));
    const key = pyJsonDumps(this.paramKey, { ensureAscii: false });
    events.push({ kind: 'args', index: c.index, fragment: `${c.empty ? '{' : ', '}${key}: ${json}` });
    c.empty = false;
  }

  /** Read `NAME>` of a function or parameter: the name, 'wait', or the length that is not a name. */
  private readName(eof: boolean): { name: string; used: number } | 'wait' | { bad: number } {
    // Only the first MAX_NAME + 1 characters are looked at, so the decision does not depend on how
    // the text was split into pieces.
    const window = this.buf.slice(0, MAX_NAME + 1);
    const close = window.indexOf('>');
    const badMatch = /[\n<]/.exec(window);
    const bad = badMatch ? badMatch.index : -1;
    if (close >= 0 && (bad < 0 || close < bad)) return { name: window.slice(0, close).trim(), used: close + 1 };
    if (bad >= 0) return { bad };
    if (window.length > MAX_NAME || eof) return { bad: window.length };
    return 'wait';
  }

  /** Process the buffer in the current state; true if something changed (run again). */
  private step(events: ToolCallEvent[], eof: boolean): boolean {
    const buf = this.buf;
    switch (this.state) {
      case 'text': {
        const hit = findFirst(buf, TEXT_TAGS);
        if (hit) {
          this.text(events, buf.slice(0, hit.index));
          this.raw = hit.tag;
          this.buf = buf.slice(hit.index + hit.tag.length);
          this.state = 'open';
          return true;
        }
        const keep = eof ? 0 : heldSuffix(buf, TEXT_TAGS);
        this.text(events, buf.slice(0, buf.length - keep));
        this.buf = buf.slice(buf.length - keep);
        return false;
      }
      case 'open': {
        const ws = leadingSpace(buf);
        const body = buf.slice(ws);
        if (body.startsWith(TAGS.functionOpen)) {
          this.raw += buf.slice(0, ws + TAGS.functionOpen.length);
          this.buf = body.slice(TAGS.functionOpen.length);
          this.state = 'name';
          return true;
        }
        if (!eof && TAGS.functionOpen.startsWith(body)) return false;
        return this.reject(events, buf.slice(0, ws), body);
      }
      case 'name': {
        const r = this.readName(eof);
        if (r === 'wait') return false;
        if ('bad' in r) return this.reject(events, buf.slice(0, r.bad), buf.slice(r.bad));
        if (r.name === '' || !(this.schemas.empty || this.schemas.has(r.name))) {
          return this.reject(events, buf.slice(0, r.used), buf.slice(r.used));
        }
        const index = this.calls++;
        this.current = { index, name: r.name, keys: new Set(), empty: true };
        events.push({ kind: 'call', index, id: this.newId(), name: r.name });
        this.raw = '';
        this.buf = buf.slice(r.used);
        this.state = 'body';
        return true;
      }
      case 'body': {
        const hit = findFirst(buf, BODY_TAGS);
        if (!hit) {
          // Stray text inside a function is dropped; keep only what may start a tag.
          const keep = eof ? 0 : heldSuffix(buf, BODY_TAGS);
          this.buf = buf.slice(buf.length - keep);
          if (!eof) return false;
          this.closeCall(events);
          this.state = 'text';
          return false;
        }
        const after = buf.slice(hit.index + hit.tag.length);
        switch (hit.tag) {
          case TAGS.parameterOpen:
            this.buf = after;
            this.state = 'pname';
            return true;
          case TAGS.functionClose:
            this.buf = after;
            this.closeCall(events);
            this.state = 'after';
            return true;
          case TAGS.toolCallClose:
            this.buf = after;
            this.closeCall(events);
            this.state = 'text';
            return true;
          default: // <tool_call>: a new block starts; this one was never closed
            this.buf = buf.slice(hit.index);
            this.closeCall(events);
            this.state = 'text';
            return true;
        }
      }
      case 'pname': {
        const r = this.readName(eof);
        if (r === 'wait') return false;
        if ('bad' in r) {
          this.buf = buf.slice(r.bad); // malformed parameter tag: ignored like stray text
          this.state = 'body';
          return true;
        }
        this.buf = buf.slice(r.used);
        this.paramKey = r.name;
        this.state = r.name === '' ? 'body' : 'value';
        this.valueParts = [];
        return true;
      }
      case 'value': {
        // The value so far lives in `valueParts`; `buf` only holds text not yet searched plus a
        // possible partial tag, so long values cost linear time.
        const hit = findFirst(buf, VALUE_TAGS);
        if (hit || eof) {
          // output cut off inside a closing tag ("2\n</pa"): the partial tag is not part of the value
          const end = hit ? hit.index : buf.length - heldSuffix(buf, VALUE_TAGS);
          this.valueParts.push(buf.slice(0, end));
          this.addParam(events, this.valueParts.join(''));
          this.valueParts = [];
          this.buf = hit ? buf.slice(hit.tag === TAGS.parameterClose ? end + hit.tag.length : end) : '';
          this.state = 'body';
          return true;
        }
        const keep = heldSuffix(buf, VALUE_TAGS);
        this.valueParts.push(buf.slice(0, buf.length - keep));
        this.buf = buf.slice(buf.length - keep);
        return false;
      }
      case 'after': {
        const ws = leadingSpace(buf);
        const body = buf.slice(ws);
        if (body.startsWith(TAGS.toolCallClose)) {
          this.buf = body.slice(TAGS.toolCallClose.length);
          this.state = 'text';
          return true;
        }
        if (body.startsWith(TAGS.functionOpen)) {
          this.raw = TAGS.functionOpen;
          this.buf = body.slice(TAGS.functionOpen.length);
          this.state = 'name';
          return true;
        }
        if (!eof && (TAGS.toolCallClose.startsWith(body) || TAGS.functionOpen.startsWith(body))) return false;
        this.buf = body; // `</tool_call>` missing: back to text
        this.state = 'text';
        return true;
      }
    }
  }
}
