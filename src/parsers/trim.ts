// Streaming whitespace trimming. Reasoning and content are returned trimmed at both ends (which is
// also how the chat template re-renders them in history). In a stream, leading whitespace is simply
// dropped and trailing whitespace is held back until non-space text follows it, so the streamed
// pieces always concatenate to the trimmed whole.

/** One trimmed run of text fed piece by piece. */
export class TrimmedRun {
  private started = false;
  private pending = '';

  /** Feed raw text; returns what can be emitted now. */
  push(text: string): string {
    let t = text;
    if (!this.started) {
      t = t.replace(/^\s+/, '');
      if (t === '') return '';
      this.started = true;
    }
    const body = t.replace(/\s+$/, '');
    if (body === '') {
      this.pending += t;
      return '';
    }
    const out = this.pending + body;
    this.pending = t.slice(body.length);
    return out;
  }

  /** Whether anything has been emitted. */
  get nonEmpty(): boolean {
    return this.started;
  }
}

/**
 * Content made of several runs (text before, between and after tool calls): each run is trimmed,
 * empty runs vanish, and non-empty runs are joined with a newline.
 */
export class ContentAssembler {
  private run = new TrimmedRun();
  private emitted = false;
  private separatorDue = false;

  push(text: string): string {
    const out = this.run.push(text);
    if (out === '') return '';
    this.emitted = true;
    if (this.separatorDue) {
      this.separatorDue = false;
      return '\n' + out;
    }
    return out;
  }

  /** End the current run (a tool call starts); its trailing whitespace is dropped. */
  breakRun(): void {
    this.run = new TrimmedRun();
    if (this.emitted) this.separatorDue = true;
  }
}
