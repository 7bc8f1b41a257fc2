// Finding a model's chat template(s) in its directory, as transformers does: `chat_template.jinja`
// (plus `additional_chat_templates/<name>.jinja`) wins over `chat_template` in tokenizer_config.json,
// which may be a string or a list of `{name, template}`. The named special tokens of
// tokenizer_config.json become template variables (`bos_token`, `eos_token`, ...).
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ChatTemplate } from './chat-template.js';
import { TemplateNotFoundError } from './errors.js';
import { isPlainObject } from './python-values.js';

const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'];

/** All chat templates of a model, by name, with transformers' selection rule. */
export class ChatTemplateSet {
  constructor(readonly templates: ReadonlyMap<string, ChatTemplate>) {}

  /**
   * Pick a template: `name` if given; else `tool_use` when the request has tools and the model has
   * one; else `default` (or the only template).
   * @throws TemplateNotFoundError when no template matches.
   */
  select(name?: string, hasTools = false): ChatTemplate {
    if (name !== undefined) {
      const t = this.templates.get(name);
      if (!t) throw new TemplateNotFoundError(`chat template '${name}' not found (have: ${[...this.templates.keys()].join(', ')})`);
      return t;
    }
    if (hasTools && this.templates.has('tool_use')) return this.templates.get('tool_use')!;
    const t = this.templates.get('default') ?? (this.templates.size === 1 ? [...this.templates.values()][0] : undefined);
    if (!t) throw new TemplateNotFoundError(`no default chat template (have: ${[...this.templates.keys()].join(', ')})`);
    return t;
  }
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Named special tokens of a tokenizer_config.json (strings or AddedToken objects). */
export function specialTokensFromConfig(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of SPECIAL_TOKEN_KEYS) {
    const v = config[key];
    if (typeof v === 'string') out[key] = v;
    else if (isPlainObject(v) && typeof v.content === 'string') out[key] = v.content;
  }
  return out;
}

/** Templates declared by a tokenizer_config.json object (`chat_template` string or named list). */
export function templatesFromConfig(config: Record<string, unknown>): Map<string, string> {
  const out = new Map<string, string>();
  const ct = config.chat_template;
  if (typeof ct === 'string') out.set('default', ct);
  else if (Array.isArray(ct)) {
    for (const entry of ct) {
      if (isPlainObject(entry) && typeof entry.name === 'string' && typeof entry.template === 'string') {
        out.set(entry.name, entry.template);
      }
    }
  }
  return out;
}

/**
 * Load every chat template of the model in `dir`.
 * @throws TemplateNotFoundError when the directory has none; TemplateSyntaxError when one does not parse.
 */
export async function loadChatTemplates(dir: string): Promise<ChatTemplateSet> {
  const configText = await readIfExists(join(dir, 'tokenizer_config.json'));
  const config = configText === undefined ? {} : (JSON.parse(configText) as Record<string, unknown>);
  const special = specialTokensFromConfig(config);
  const sources = templatesFromConfig(config);
  const jinja = await readIfExists(join(dir, 'chat_template.jinja'));
  if (jinja !== undefined) sources.set('default', jinja);
  let extra: string[] = [];
  try {
    extra = (await readdir(join(dir, 'additional_chat_templates'))).filter((f) => f.endsWith('.jinja'));
  } catch {
    // no additional templates
  }
  for (const file of extra.sort()) {
    sources.set(file.slice(0, -'.jinja'.length), await readFile(join(dir, 'additional_chat_templates', file), 'utf8'));
  }
  if (sources.size === 0) {
    throw new TemplateNotFoundError(`no chat template in ${dir} (looked for chat_template.jinja and tokenizer_config.json)`);
  }
  return new ChatTemplateSet(new Map([...sources].map(([name, src]) => [name, new ChatTemplate(src, special, name)])));
}

/** Load the model's template for a request: `loadChatTemplates(dir)` then `select(name, hasTools)`. */
export async function loadChatTemplate(dir: string, name?: string, hasTools = false): Promise<ChatTemplate> {
  return (await loadChatTemplates(dir)).select(name, hasTools);
}
