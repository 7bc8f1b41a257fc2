// Tag scanning for incremental parsers: find the first complete tag in a buffer, and measure how
// much of the buffer's end could still become a tag once more text arrives (that part is held back).

/** Reasoning and tool-call markup emitted by Nemotron 3 Nano (Qwen3-Coder XML tool format). */
export const TAGS = {
  thinkOpen: '<think>',
  thinkClose: '</think>',
  toolCallOpen: '<tool_call>',
  toolCallClose: '</tool_call>',
  functionOpen: '<function=',
  functionClose: '</function>',
  parameterOpen: '<parameter=',
  parameterClose: '</parameter>',
} as const;

/** First occurrence at or after `from` of any of `tags` (earliest position, then first listed). */
export function findFirst(buf: string, tags: readonly string[], from = 0): { index: number; tag: string } | null {
  let best: { index: number; tag: string } | null = null;
  for (const tag of tags) {
    const i = buf.indexOf(tag, from);
    if (i >= 0 && (best === null || i < best.index)) best = { index: i, tag };
  }
  return best;
}

/** Length of the longest suffix of `buf` that is a proper prefix of one of `tags`. */
export function heldSuffix(buf: string, tags: readonly string[]): number {
  const max = Math.min(buf.length, Math.max(...tags.map((t) => t.length)) - 1);
  for (let k = max; k > 0; k--) {
    const suffix = buf.slice(buf.length - k);
    if (suffix[0] === '<' && tags.some((t) => t.length > k && t.startsWith(suffix))) return k;
  }
  return 0;
}

/** True for the whitespace the parsers trim around reasoning/content (JS `\s`). */
export function isSpace(ch: string): boolean {
  return /\s/.test(ch);
}
