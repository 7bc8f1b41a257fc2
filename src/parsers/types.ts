// Public shapes of the output parser: OpenAI chat-completion delta pieces and the final message.

/** First delta of a tool call (OpenAI streaming shape). */
export interface ToolCallStartDelta {
  index: number;
  id: string;
  type: 'function';
  function: { name: string; arguments: '' };
}

/** Later deltas of a tool call: a fragment of the JSON arguments. */
export interface ToolCallArgumentsDelta {
  index: number;
  function: { arguments: string };
}

export type ToolCallDelta = ToolCallStartDelta | ToolCallArgumentsDelta;

/** What one fed piece of text adds to the message (fields absent when nothing). */
export interface OutputDelta {
  reasoning?: string;
  content?: string;
  toolCalls?: ToolCallDelta[];
}

/** A complete tool call (OpenAI non-streaming shape). */
export interface ParsedToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** The whole parsed message. */
export interface ParsedOutput {
  /** Reasoning text, trimmed; null when there was none. */
  reasoning: string | null;
  /** Answer text, trimmed (runs around tool calls joined by "\n"); null when empty. */
  content: string | null;
  toolCalls: ParsedToolCall[];
  /** `tool_calls` when at least one call was parsed, else null (the engine decides stop/length). */
  finishReason: 'tool_calls' | null;
  /** False when thinking was on and the reasoning block was never closed (truncated output). */
  reasoningClosed: boolean;
}
