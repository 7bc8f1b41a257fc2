// Input normalisation before rendering (serving-spec 0.9, following vLLM's chat_utils
// `_parse_chat_message_content` + `_postprocess_messages` for a template whose content format is
// "string"): content parts are flattened to text joined by "\n", `content: null` becomes "",
// assistant `reasoning`/`reasoning_content` are both set from whichever the client sent, tool-call
// `arguments` JSON strings are parsed into objects (losslessly, as Python's json.loads would), empty
// `tool_calls` are dropped and `developer` becomes `system`. Unknown fields are dropped.
import { ChatInputError } from './errors.js';
import { JsonSyntaxError, parseJsonLossless } from './lossless-json.js';
import { isPlainObject } from './python-values.js';

/** Roles accepted on input; `developer` is rendered as `system`. */
export type InputRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool';

/** A tool call in a normalised assistant message (`arguments` is an object, as templates expect). */
export interface NormalizedToolCall {
  id?: string;
  type: 'function';
  function: { name: string; arguments: Record<string, unknown> };
}

/** A message as handed to the template. */
export interface NormalizedMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  name?: string;
  /** Assistant only: reasoning of that turn (both names carry the same text, like vLLM). */
  reasoning?: string;
  reasoning_content?: string;
  tool_calls?: NormalizedToolCall[];
  tool_call_id?: string;
}

const TEXT_PART_TYPES = new Set(['text', 'input_text', 'output_text']);

function flattenContent(content: unknown, param: string): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw new ChatInputError(param, `content must be a string, an array of content parts or null, got ${describe(content)}`);
  }
  const texts: string[] = [];
  content.forEach((part, i) => {
    const p = `${param}[${i}]`;
    if (typeof part === 'string') {
      texts.push(part);
      return;
    }
    if (!isPlainObject(part)) throw new ChatInputError(p, `content part must be an object, got ${describe(part)}`);
    const type = part.type;
    if (typeof type !== 'string') throw new ChatInputError(`${p}.type`, "content part has no 'type'");
    const field = TEXT_PART_TYPES.has(type) ? 'text' : type === 'refusal' ? 'refusal' : null;
    if (field === null) {
      throw new ChatInputError(`${p}.type`, `content part type '${type}' is not supported (this model accepts text only)`);
    }
    const value = part[field];
    if (value === null || value === undefined) return; // vLLM skips text parts without text
    if (typeof value !== 'string') throw new ChatInputError(`${p}.${field}`, `must be a string, got ${describe(value)}`);
    texts.push(value);
  });
  return texts.join('\n');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

/** Parse tool-call arguments the way vLLM does: falsy -> {}, JSON string -> object. */
export function normalizeToolArguments(args: unknown, param: string): Record<string, unknown> {
  if (args === null || args === undefined || args === '') return {};
  let value: unknown = args;
  if (typeof args === 'string') {
    try {
      value = parseJsonLossless(args);
    } catch (err) {
      const detail = err instanceof JsonSyntaxError ? err.message : String(err);
      throw new ChatInputError(param, `tool-call arguments are not valid JSON (${detail})`, { cause: err });
    }
  }
  if (!isPlainObject(value)) {
    throw new ChatInputError(param, `tool-call arguments must be a JSON object, got ${describe(value)}`);
  }
  return value;
}

function normalizeToolCalls(calls: unknown, param: string): NormalizedToolCall[] | undefined {
  if (calls === null || calls === undefined) return undefined;
  if (!Array.isArray(calls)) throw new ChatInputError(param, `tool_calls must be an array, got ${describe(calls)}`);
  if (calls.length === 0) return undefined; // keeps the template on the plain-assistant path
  return calls.map((call, j) => {
    const p = `${param}[${j}]`;
    if (!isPlainObject(call)) throw new ChatInputError(p, `tool call must be an object, got ${describe(call)}`);
    const fn = call.function;
    if (!isPlainObject(fn)) throw new ChatInputError(`${p}.function`, 'tool call has no function object');
    if (typeof fn.name !== 'string' || fn.name === '') {
      throw new ChatInputError(`${p}.function.name`, 'tool call function name must be a non-empty string');
    }
    const out: NormalizedToolCall = {
      type: 'function',
      function: { name: fn.name, arguments: normalizeToolArguments(fn.arguments, `${p}.function.arguments`) },
    };
    if (typeof call.id === 'string') out.id = call.id;
    return out;
  });
}

/**
 * Normalise OpenAI-style chat messages for the template (see module comment).
 * @throws ChatInputError with `param` naming the offending field.
 */
export function normalizeMessages(messages: unknown): NormalizedMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ChatInputError('messages', 'messages must be a non-empty array');
  }
  return messages.map((message, i) => {
    const p = `messages[${i}]`;
    if (!isPlainObject(message)) throw new ChatInputError(p, `message must be an object, got ${describe(message)}`);
    const role = message.role;
    if (typeof role !== 'string') throw new ChatInputError(`${p}.role`, 'message has no role');
    if (!['system', 'developer', 'user', 'assistant', 'tool'].includes(role)) {
      throw new ChatInputError(
        `${p}.role`,
        `unsupported role '${role}' (expected system, developer, user, assistant or tool)`,
      );
    }
    const out: NormalizedMessage = {
      role: role === 'developer' ? 'system' : (role as NormalizedMessage['role']),
      content: flattenContent(message.content, `${p}.content`),
    };
    if (role === 'assistant') {
      // vLLM reads `reasoning`; older clients (LangChain.js, NIM 1.x era) send `reasoning_content`.
      const reasoning = message.reasoning ?? message.reasoning_content;
      if (reasoning !== null && reasoning !== undefined) {
        if (typeof reasoning !== 'string') {
          throw new ChatInputError(`${p}.reasoning`, `reasoning must be a string, got ${describe(reasoning)}`);
        }
        out.reasoning = reasoning;
        out.reasoning_content = reasoning;
      }
      const calls = normalizeToolCalls(message.tool_calls, `${p}.tool_calls`);
      if (calls) out.tool_calls = calls;
    }
    if (role === 'tool' && typeof message.tool_call_id === 'string') out.tool_call_id = message.tool_call_id;
    if (typeof message.name === 'string') out.name = message.name;
    return out;
  });
}

/**
 * Check the request's `tools` (OpenAI `{type, function}` form or bare `{name, ...}`) and pass them
 * through unchanged; `null`/`undefined` mean no tools.
 * @throws ChatInputError when `tools` is not an array of objects with a function name.
 */
export function normalizeTools(tools: unknown): Record<string, unknown>[] | null {
  if (tools === null || tools === undefined) return null;
  if (!Array.isArray(tools)) throw new ChatInputError('tools', `tools must be an array, got ${describe(tools)}`);
  return tools.map((tool, i) => {
    if (!isPlainObject(tool)) throw new ChatInputError(`tools[${i}]`, `tool must be an object, got ${describe(tool)}`);
    const fn = isPlainObject(tool.function) ? tool.function : tool;
    if (typeof fn.name !== 'string' || fn.name === '') {
      throw new ChatInputError(`tools[${i}].function.name`, 'tool function name must be a non-empty string');
    }
    return tool;
  });
}
