// Rendering a conversation through a model's chat template, as transformers' apply_chat_template
// (and vLLM on top of it) does: render(messages=, tools=, documents=, add_generation_prompt=,
// **special_tokens, **chat_template_kwargs).
import { ChatInputError } from './errors.js';
import { type NormalizedMessage, normalizeMessages, normalizeTools } from './normalize.js';
import { type CompiledTemplate, compileTemplate, renderTemplate } from './python-jinja.js';

/** Options of `renderChat` / `ChatTemplate.render`. */
export interface RenderChatOptions {
  /** Tool definitions (OpenAI `{type:"function", function}` or bare); omitted/null = no tools. */
  tools?: readonly unknown[] | null;
  /** RAG documents, passed through as `documents` (unused by Nemotron 3 Nano). */
  documents?: readonly unknown[] | null;
  /** Append the assistant header. Default true (vLLM's request default; transformers' is false). */
  addGenerationPrompt?: boolean;
  /** `enable_thinking` kwarg; omitted = the template's default (true for Nemotron 3 Nano). */
  enableThinking?: boolean;
  /** `truncate_history_thinking` kwarg; omitted = the template's default (true). */
  truncateHistoryThinking?: boolean;
  /**
   * Any other template variables (a request's `chat_template_kwargs`). `enableThinking` and
   * `truncateHistoryThinking`, when given, override the same names here.
   */
  templateKwargs?: Readonly<Record<string, unknown>>;
  /** Normalise messages/tools first (serving-spec 0.9). Default true; false renders them as given. */
  normalize?: boolean;
  /** Clock for `strftime_now` (tests). */
  now?: () => Date;
}

/** Variables a request may not override through `templateKwargs`. */
const RESERVED = new Set(['messages', 'tools', 'documents', 'add_generation_prompt']);

/** A compiled chat template plus the special-token variables transformers passes to it. */
export class ChatTemplate {
  private readonly compiled: CompiledTemplate;

  /**
   * @param source Jinja source of the template.
   * @param specialTokens Variables such as `bos_token`/`eos_token` (from tokenizer_config.json).
   * @param name Name of the template when the model ships several (`default`, `tool_use`...).
   * @throws TemplateSyntaxError when the source does not parse.
   */
  constructor(
    readonly source: string,
    readonly specialTokens: Readonly<Record<string, string>> = {},
    readonly name = 'default',
  ) {
    this.compiled = compileTemplate(source);
  }

  /**
   * Render `messages` to the prompt string.
   * @throws ChatInputError for invalid messages/tools/kwargs; TemplateRenderError (or
   *   TemplateRaisedError from `raise_exception`) when the template fails.
   */
  render(messages: readonly unknown[], options: RenderChatOptions = {}): string {
    const normalize = options.normalize ?? true;
    const msgs: readonly unknown[] | NormalizedMessage[] = normalize ? normalizeMessages(messages) : messages;
    const tools = normalize ? normalizeTools(options.tools) : (options.tools ?? null);
    const kwargs: Record<string, unknown> = { ...this.specialTokens };
    for (const [key, value] of Object.entries(options.templateKwargs ?? {})) {
      if (RESERVED.has(key)) throw new ChatInputError(`chat_template_kwargs.${key}`, `'${key}' cannot be set here`);
      kwargs[key] = value;
    }
    if (options.enableThinking !== undefined) kwargs.enable_thinking = options.enableThinking;
    if (options.truncateHistoryThinking !== undefined) kwargs.truncate_history_thinking = options.truncateHistoryThinking;
    return renderTemplate(
      this.compiled,
      {
        ...kwargs,
        messages: msgs,
        tools,
        documents: options.documents ?? null,
        add_generation_prompt: options.addGenerationPrompt ?? true,
      },
      { now: options.now },
    );
  }
}

const cache = new Map<string, ChatTemplate>();
const CACHE_LIMIT = 16;

/**
 * Render `messages` with `template` (Jinja source or a ChatTemplate). Sources are compiled once and
 * cached. See `RenderChatOptions` for kwargs and normalisation.
 */
export function renderChat(
  template: string | ChatTemplate,
  messages: readonly unknown[],
  options: RenderChatOptions = {},
): string {
  let t = typeof template === 'string' ? cache.get(template) : template;
  if (!t) {
    t = new ChatTemplate(template as string);
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
    cache.set(template as string, t);
  }
  return t.render(messages, options);
}
