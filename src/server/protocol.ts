/**
 * OpenAI / vLLM request schemas (zod) for the inference routes, and the mapping of validation failures to
 * 400 errors naming the field. Unknown top-level fields are refused like OpenAI does ("Unrecognized request
 * argument supplied"), but every field that the OpenAI API or vLLM's OpenAI server defines is known: clients
 * that send them keep working even where the value is accepted and ignored. Message contents are checked in
 * detail by the template layer's normaliser.
 */
import { z } from 'zod';
import { ApiError, badRequest } from './errors.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);
const prob = z.number().min(0).max(1);

const stop = z.union([z.string().min(1, 'stop strings must not be empty'), z.array(z.string().min(1, 'stop strings must not be empty')).max(64)]).nullish();

const toolFunction = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'function name must be 1-64 characters of a-z, A-Z, 0-9, _, . or -'),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

const tool = z.strictObject({ type: z.literal('function'), function: toolFunction });

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.strictObject({ type: z.literal('function'), function: z.strictObject({ name: z.string() }) }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string().min(1).max(64),
      description: z.string().nullish(),
      schema: z.record(z.string(), z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

const streamOptions = z.strictObject({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() }).nullish();

/** Sampling and vLLM extras shared by chat and completions. */
const common = {
  model: z.string().min(1).nullish(),
  n: int(1).nullish(),
  stream: z.boolean().nullish(),
  stream_options: streamOptions,
  stop,
  stop_token_ids: z.array(int(0)).nullish(),
  seed: z.number().int().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: int(-1).nullish(),
  min_p: prob.nullish(),
  repetition_penalty: z.number().gt(0).max(10).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  logit_bias: z.record(z.string().regex(/^\d+$/, 'logit_bias keys must be token ids'), z.number().min(-100).max(100)).nullish(),
  max_tokens: int(1).nullish(),
  ignore_eos: z.boolean().nullish(),
  min_tokens: int(0).nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  skip_special_tokens: z.boolean().nullish(),
  spaces_between_special_tokens: z.boolean().nullish(),
  user: z.string().nullish(),
  priority: z.number().int().nullish(),
  request_id: z.string().nullish(),
  cache_salt: z.string().nullish(),
  length_penalty: z.number().nullish(),
  use_beam_search: z.literal(false).nullish(),
  return_tokens_as_token_ids: z.boolean().nullish(),
  prompt_logprobs: z.null().optional(),
  truncate_prompt_tokens: z.null().optional(),
  add_special_tokens: z.boolean().nullish(),
  guided_json: z.union([z.record(z.string(), z.unknown()), z.string()]).nullish(),
  vllm_xargs: z.record(z.string(), z.unknown()).nullish(),
  kv_transfer_params: z.unknown().optional(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  store: z.boolean().nullish(),
  service_tier: z.string().nullish(),
  // newer OpenAI fields with no meaning here: accepted, ignored
  verbosity: z.string().nullish(),
  safety_identifier: z.string().nullish(),
  prompt_cache_key: z.string().nullish(),
  prompt_cache_retention: z.string().nullish(),
  nvext: z
    .strictObject({
      top_k: int(-1).nullish(),
      min_p: prob.nullish(),
      repetition_penalty: z.number().gt(0).max(10).nullish(),
      ignore_eos: z.boolean().nullish(),
      max_thinking_tokens: int(0).nullish(),
      guided_json: z.union([z.record(z.string(), z.unknown()), z.string()]).nullish(),
    })
    .nullish(),
};

export const chatRequestSchema = z.strictObject({
  ...common,
  messages: z.array(z.unknown()).min(1, 'messages must be a non-empty array'),
  max_completion_tokens: int(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int(0, 20).nullish(),
  tools: z.array(tool).min(1, 'tools must not be empty (omit the field instead)').nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: responseFormat.nullish(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']).nullish(),
  reasoning_budget: int(0).nullish(),
  thinking_token_budget: int(0).nullish(),
  include_reasoning: z.boolean().nullish(),
  chat_template: z.string().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  documents: z.array(z.record(z.string(), z.unknown())).nullish(),
  echo: z.boolean().nullish(),
  modalities: z.array(z.literal('text')).nullish(),
  prediction: z.unknown().optional(),
  audio: z.null().optional(),
  web_search_options: z.null().optional(),
});
export type ChatRequest = z.infer<typeof chatRequestSchema>;

export const completionRequestSchema = z.strictObject({
  ...common,
  prompt: z.union([z.string(), z.array(z.string()).min(1), z.array(int(0)).min(1), z.array(z.array(int(0)).min(1)).min(1)]),
  logprobs: int(0, 20).nullish(),
  echo: z.boolean().nullish(),
  suffix: z.null().optional(),
  best_of: int(1).nullish(),
});
export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export const tokenizeRequestSchema = z.strictObject({
  model: z.string().nullish(),
  prompt: z.string().nullish(),
  messages: z.array(z.unknown()).min(1).nullish(),
  add_special_tokens: z.boolean().nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  tools: z.array(tool).nullish(),
  return_token_strs: z.boolean().nullish(),
});

export const detokenizeRequestSchema = z.strictObject({ model: z.string().nullish(), tokens: z.array(int(0)) });

/** Renders a zod path like `messages[0].content`. */
function pathOf(path: PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** Validates `body` against `schema`, throwing a 400 ApiError that names the first bad field. */
export function parseRequest<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    const at = pathOf(issue.path);
    const param = at ? `${at}.${keys[0]}` : keys[0];
    throw badRequest(`Unrecognized request argument supplied: ${at ? `${at}.` : ''}${keys.join(', ')}`, param);
  }
  const param = pathOf(issue.path) || null;
  let msg = issue.message;
  if (issue.code === 'invalid_type') msg = `${msg.replace(/^Invalid input: /, '')}`;
  throw new ApiError('invalid_request', `${param ? `${param}: ` : ''}${msg}`, param);
}
