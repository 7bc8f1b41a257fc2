/**
 * The served model: engine, tokenizer and chat template(s) loaded from one directory, plus the lookups the
 * routes need (special ids, stop ids, the vocabulary trie for constrained decoding, built on first use).
 * `ModelHost` holds the loading state so the app can answer health checks (503) before the model is ready.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, type EngineOptions } from '../engine/engine.js';
import { loadModelAsync } from '../loaders/load-model.js';
import { ConfigError } from '../models/config.js';
import type { Tensor } from '../ops/ops.js';
import { selectBackend } from '../runtime/select.js';
import { ChatTemplate, ChatTemplateSet, loadChatTemplates } from '../template/index.js';
import { Tokenizer } from '../tokenizer/index.js';
import { VocabIndex } from '../structured/index.js';

/** Chat-control tags the output parsers read: decoded even though the tokenizer may flag them special. */
const KEPT_SPECIALS = new Set(['<think>', '</think>', '<tool_call>', '</tool_call>']);

export interface ServedModel {
  dir: string;
  engine: Engine<Tensor>;
  tokenizer: Tokenizer;
  templates: ChatTemplateSet | null;
  maxModelLen: number;
  /** Default stop ids (generation_config eos + the tokenizer's eos). */
  eosIds: number[];
  /** Model vocabulary size (>= tokenizer's). */
  vocabSize: number;
  createdAt: number;
  /** Bytes a generated token adds to the visible text (special tokens other than the chat tags add none). */
  textBytes(id: number): Uint8Array | undefined;
  /** The vocabulary as a byte trie (constrained decoding). */
  vocab(): VocabIndex;
}

export interface LoadServedOptions {
  backend?: string;
  maxModelLen?: number;
  chatTemplate?: string;
  engine?: Omit<EngineOptions, 'maxModelLen'>;
  onProgress?: (done: number, total: number, name: string) => void;
}

/** Loads a model directory for serving. Throws with a clear message when a part is missing. */
export async function loadServedModel(dir: string, opts: LoadServedOptions = {}): Promise<ServedModel> {
  if (!existsSync(join(dir, 'config.json'))) throw new Error(`${dir}: not a model directory (no config.json)`);
  if (!existsSync(join(dir, 'tokenizer.json'))) throw new Error(`${dir}: the model has no tokenizer.json; the server needs one to take text`);
  const tokenizer = await Tokenizer.fromDirectory(dir);
  let templates: ChatTemplateSet | null = null;
  if (opts.chatTemplate) {
    templates = new ChatTemplateSet(new Map([['default', new ChatTemplate(readFileSync(opts.chatTemplate, 'utf8'))]]));
  } else {
    try {
      templates = await loadChatTemplates(dir);
    } catch {
      templates = null; // /v1/completions still works; chat answers 400 with a clear message
    }
  }
  const lm = await loadModelAsync(dir, selectBackend(opts.backend), { onProgress: opts.onProgress }); // yields: health answers 503 meanwhile
  // NemotronH has no positional encoding: a --max-model-len above max_position_embeddings is the user's call
  const engine = new Engine(lm, { ...opts.engine, maxModelLen: opts.maxModelLen ?? lm.config.maxPositionEmbeddings });
  const eos = new Set(lm.generation.eosTokenIds);
  if (tokenizer.specialTokens.eos !== undefined) eos.add(tokenizer.specialTokens.eos);
  const hidden = new Set(tokenizer.addedTokens.filter((t) => t.special && !KEPT_SPECIALS.has(t.content)).map((t) => t.id));
  let vocab: VocabIndex | null = null;
  return {
    dir,
    engine,
    tokenizer,
    templates,
    maxModelLen: engine.maxModelLen,
    eosIds: [...eos],
    vocabSize: lm.config.vocabSize,
    createdAt: Math.floor(Date.now() / 1000),
    textBytes: (id) => (hidden.has(id) ? undefined : tokenizer.idBytes(id, false)),
    vocab: () => (vocab ??= new VocabIndex({ vocabSize: Math.min(tokenizer.vocabSize, lm.config.vocabSize), idBytes: (id, s) => tokenizer.idBytes(id, s), addedTokens: tokenizer.addedTokens })),
  };
}

/** Loading state of the one served model. */
export class ModelHost {
  status: 'loading' | 'ready' | 'failed' = 'loading';
  model: ServedModel | null = null;
  error: string | null = null;
  readonly startedAt = Date.now();

  /** A host that is ready with `model` (tests). */
  static ready(model: ServedModel): ModelHost {
    const h = new ModelHost();
    h.setReady(model);
    return h;
  }

  setReady(model: ServedModel): void {
    this.model = model;
    this.status = 'ready';
  }

  setFailed(error: string): void {
    this.error = error;
    this.status = 'failed';
  }
}

/** The package root (the directory with package.json above this file, in src/ or dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = resolve(dir, '..');
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/** The model shipped with the package: <package root>/models/default. */
export function defaultModelDir(): string {
  return join(packageRoot(), 'models', 'default');
}

/** Throws a clear error when the default model directory is missing. */
export function requireModelDir(dir: string, isDefault: boolean): void {
  if (existsSync(join(dir, 'config.json'))) return;
  if (isDefault) throw new ConfigError(`the built-in model is missing (${dir} has no config.json); pass --model DIR with a NemotronH model directory`);
  throw new ConfigError(`${dir}: not a model directory (no config.json)`);
}
