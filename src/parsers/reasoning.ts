// Reasoning splitter for Nemotron 3 Nano (vLLM `nemotron_v3` / `nano_v3` behaviour, serving-spec 3.1,
// plus the implicit end on `<tool_call>` of serving-spec 0.4).
//
// With thinking on, the prompt ends in `<think>\n`, so generation starts inside the reasoning block:
// everything up to `</think>` is reasoning and the rest is the answer. A `<think>` the model echoes at
// the very start (after whitespace) is dropped. When tool calls are parsed, `<tool_call>` also ends
// reasoning (the model sometimes omits `</think>`); the tag then stays in the answer text so the
// tool-call parser sees it. With thinking off everything is answer text.
import { TAGS, findFirst, heldSuffix } from './scan.js';

/** Options of `ReasoningSplitter`. */
export interface ReasoningSplitterOptions {
  /** Whether the prompt left a reasoning block open (`enable_thinking`, default true). */
  thinking?: boolean;
  /** Whether `<tool_call>` ends reasoning (true when tool calls are parsed). */
  endOnToolCall?: boolean;
}

/** Raw pieces split off one fed chunk (untrimmed). */
export interface ReasoningSplit {
  reasoning: string;
  rest: string;
}

/** Incremental split of model output into reasoning and the rest. */
export class ReasoningSplitter {
  private state: 'start' | 'reasoning' | 'done';
  private buf = '';
  private readonly tags: string[];
  private endedByTag = false;

  constructor(options: ReasoningSplitterOptions = {}) {
    this.state = (options.thinking ?? true) ? 'start' : 'done';
    this.tags = options.endOnToolCall ? [TAGS.thinkClose, TAGS.toolCallOpen] : [TAGS.thinkClose];
  }

  /** True once reasoning has ended (by `</think>` or `<tool_call>`), or from the start when thinking is off. */
  get ended(): boolean {
    return this.state === 'done';
  }

  /** True when reasoning was closed by a tag (false when thinking is off or output was truncated). */
  get closedByTag(): boolean {
    return this.endedByTag;
  }

  feed(text: string): ReasoningSplit {
    if (this.state === 'done') return { reasoning: '', rest: text };
    this.buf += text;
    if (this.state === 'start') {
      const body = this.buf.replace(/^\s+/, '');
      if (body === '') return { reasoning: '', rest: '' };
      if (body.startsWith(TAGS.thinkOpen)) {
        this.buf = body.slice(TAGS.thinkOpen.length);
      } else if (TAGS.thinkOpen.startsWith(body)) {
        return { reasoning: '', rest: '' }; // maybe an echoed <think>: wait for more
      }
      this.state = 'reasoning';
    }
    const hit = findFirst(this.buf, this.tags);
    if (hit) {
      const reasoning = this.buf.slice(0, hit.index);
      // `</think>` is consumed; `<tool_call>` is handed on to the tool-call parser.
      const rest = this.buf.slice(hit.tag === TAGS.thinkClose ? hit.index + hit.tag.length : hit.index);
      this.buf = '';
      this.state = 'done';
      this.endedByTag = true;
      return { reasoning, rest };
    }
    const keep = heldSuffix(this.buf, this.tags);
    const reasoning = this.buf.slice(0, this.buf.length - keep);
    this.buf = this.buf.slice(this.buf.length - keep);
    return { reasoning, rest: '' };
  }

  /** End of output: whatever is held is reasoning (the block was never closed). */
  finish(): ReasoningSplit {
    const reasoning = this.state === 'done' ? '' : this.buf;
    this.buf = '';
    return { reasoning, rest: '' };
  }
}
