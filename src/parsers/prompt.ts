// Deciding the parser's thinking mode from the rendered prompt, as vLLM does with
// `is_reasoning_end(prompt_token_ids)`: a prompt whose last `<think>` is not followed by `</think>`
// leaves generation inside the reasoning block.
import { TAGS } from './scan.js';

/** True when `prompt` ends inside an open `<think>` block (thinking on), false otherwise. */
export function promptOpensReasoning(prompt: string): boolean {
  const open = prompt.lastIndexOf(TAGS.thinkOpen);
  return open >= 0 && prompt.indexOf(TAGS.thinkClose, open) < 0;
}
