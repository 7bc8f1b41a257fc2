import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AddedTokenMatcher, type AddedTokenSpec, type Segment } from './added-tokens.js';
import { BpeLoadError, BpeModel } from './bpe.js';
import { tokenBytes } from './byte-level.js';
import {
  buildNormalizer,
  buildPostProcessor,
  buildPreTokenizer,
  UnsupportedComponentError,
  type Normalizer,
  type PostProcessor,
  type PreTokenizer,
} from './components.js';
import { UnsupportedPatternError } from './onig-regex.js';
import { StreamDecoder, type DecodeOptions } from './stream-decoder.js';

/** Thrown when a model directory's tokenizer files are missing, malformed or use unsupported components. */
export class TokenizerLoadError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TokenizerLoadError';
  }
}

export interface EncodeOptions {
  /** Apply the post-processor's special tokens (e.g. a leading `<s>`). Default true, as in HF tokenizers. */
  addSpecialTokens?: boolean;
  /**
   * Map special-token strings found in the text (`<|im_start|>`, `<think>`...) to their ids. Default true.
   * When false they are tokenized as plain text (non-special added tokens still match, as in HF tokenizers).
   */
  parseSpecialTokens?: boolean;
}

export type { DecodeOptions };

/** Ids of the well-known special tokens; a field is absent when the tokenizer has no such token. */
export interface SpecialTokenIds {
  bos?: number;
  eos?: number;
  pad?: number;
  unk?: number;
  imStart?: number;
  imEnd?: number;
  think?: number;
  thinkEnd?: number;
  toolCall?: number;
  toolCallEnd?: number;
}

export interface AddedTokenInfo {
  id: number;
  content: string;
  special: boolean;
}

type Json = Record<string, unknown>;

// One-shot decoder: keeps a leading U+FEFF (the default would eat it as a BOM).
const UTF8 = new TextDecoder('utf-8', { ignoreBOM: true });

const CHAT_TOKENS: [keyof SpecialTokenIds, string][] = [
  ['imStart', '<|im_start|>'],
  ['imEnd', '<|im_end|>'],
  ['think', '<think>'],
  ['thinkEnd', '</think>'],
  ['toolCall', '<tool_call>'],
  ['toolCallEnd', '</tool_call>'],
];

function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

/**
 * A byte-level BPE tokenizer read from a Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`),
 * producing the same ids as the Python `tokenizers` library.
 */
export class Tokenizer {
  /** Number of ids the tokenizer can produce: highest id + 1. */
  readonly vocabSize: number;
  readonly specialTokens: SpecialTokenIds;
  readonly addedTokens: readonly AddedTokenInfo[];
  private readonly model: BpeModel;
  private readonly matcher: AddedTokenMatcher;
  private readonly normalizedMatcher: AddedTokenMatcher | null;
  private readonly normalizer: Normalizer | null;
  private readonly preTokenize: PreTokenizer;
  private readonly postProcess: PostProcessor | null;
  private readonly addedById = new Map<number, AddedTokenSpec>();
  private readonly addedByContent = new Map<string, number>();
  private readonly bytesCache: (Uint8Array | undefined)[] = [];

  private constructor(json: Json, config: Json | null, source: string) {
    const model = json.model as Json | undefined;
    if (!model || typeof model !== 'object') throw new TokenizerLoadError(source, 'no "model" section');
    const type = model.type ?? (model.merges !== undefined ? 'BPE' : undefined);
    if (type !== 'BPE') {
      throw new TokenizerLoadError(source, `unsupported model type ${JSON.stringify(type)} (only BPE is supported)`);
    }
    const decoder = json.decoder as Json | null | undefined;
    if (!decoder || decoder.type !== 'ByteLevel') {
      throw new TokenizerLoadError(
        source,
        `unsupported decoder ${JSON.stringify(decoder?.type ?? null)} (only byte-level BPE with a ByteLevel decoder is supported)`,
      );
    }
    for (const k of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
      if (typeof model[k] === 'string' && model[k] !== '') {
        throw new TokenizerLoadError(source, `BPE ${k} ${JSON.stringify(model[k])} is not supported`);
      }
    }
    if (model.byte_fallback === true) throw new TokenizerLoadError(source, 'BPE byte_fallback is not supported');
    if (typeof model.dropout === 'number' && model.dropout > 0) {
      throw new TokenizerLoadError(source, 'BPE dropout is not supported');
    }
    if (!model.vocab || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) {
      throw new TokenizerLoadError(source, 'BPE model needs "vocab" (object) and "merges" (array)');
    }
    try {
      this.model = new BpeModel({
        vocab: model.vocab as Record<string, number>,
        merges: model.merges as (string | [string, string])[],
        ignoreMerges: model.ignore_merges === true,
        unkToken: typeof model.unk_token === 'string' ? model.unk_token : null,
        fuseUnk: model.fuse_unk === true,
      });
      this.normalizer = buildNormalizer(json.normalizer);
      this.preTokenize = buildPreTokenizer(json.pre_tokenizer);
      this.postProcess = buildPostProcessor(json.post_processor);
    } catch (e) {
      if (e instanceof BpeLoadError || e instanceof UnsupportedComponentError || e instanceof UnsupportedPatternError) {
        throw new TokenizerLoadError(source, e.message);
      }
      throw e;
    }

    const added: AddedTokenSpec[] = [];
    for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
      if (typeof t.id !== 'number' || typeof t.content !== 'string') {
        throw new TokenizerLoadError(source, `added token ${JSON.stringify(t)} lacks id or content`);
      }
      const spec: AddedTokenSpec = {
        id: t.id,
        content: t.content,
        special: t.special === true,
        lstrip: t.lstrip === true,
        rstrip: t.rstrip === true,
        singleWord: t.single_word === true,
        normalized: t.normalized === true,
      };
      added.push(spec);
      this.addedById.set(spec.id, spec);
      this.addedByContent.set(spec.content, spec.id);
    }
    // Tokens flagged `normalized` are matched in normalized text, against their normalized spelling.
    this.matcher = new AddedTokenMatcher(added.filter((t) => !t.normalized));
    const norm = added.filter((t) => t.normalized);
    this.normalizedMatcher = norm.length
      ? new AddedTokenMatcher(norm.map((t) => ({ ...t, content: this.normalizer ? this.normalizer(t.content) : t.content })))
      : null;
    this.addedTokens = added.map(({ id, content, special }) => ({ id, content, special }));

    let maxId = this.model.idToToken.length - 1;
    for (const t of added) maxId = Math.max(maxId, t.id);
    this.vocabSize = maxId + 1;

    const specials: SpecialTokenIds = {};
    const cfg = config ?? {};
    const fromConfig = (key: string): number | undefined => {
      const name = tokenName(cfg[key]);
      return name === undefined ? undefined : this.tokenToId(name);
    };
    const set = (k: keyof SpecialTokenIds, v: number | undefined): void => {
      if (v !== undefined) specials[k] = v;
    };
    set('bos', fromConfig('bos_token'));
    set('eos', fromConfig('eos_token'));
    set('pad', fromConfig('pad_token'));
    set('unk', fromConfig('unk_token'));
    for (const [k, s] of CHAT_TOKENS) set(k, this.tokenToId(s));
    this.specialTokens = specials;
  }

  /** Builds a tokenizer from parsed JSON objects; `source` names the file in error messages. */
  static fromJSON(tokenizerJson: unknown, config: unknown = null, source = 'tokenizer.json'): Tokenizer {
    if (!tokenizerJson || typeof tokenizerJson !== 'object' || Array.isArray(tokenizerJson)) {
      throw new TokenizerLoadError(source, 'expected a JSON object');
    }
    return new Tokenizer(tokenizerJson as Json, (config as Json | null) ?? null, source);
  }

  /** Loads `tokenizer.json` and, when present, `tokenizer_config.json` from a model directory. */
  static fromDirectorySync(dir: string): Tokenizer {
    const tokPath = join(dir, 'tokenizer.json');
    const cfgPath = join(dir, 'tokenizer_config.json');
    const tok = parseJsonFile(tokPath, readText(tokPath, true)!);
    const cfgText = readText(cfgPath, false);
    const cfg = cfgText === undefined ? null : parseJsonFile(cfgPath, cfgText);
    return Tokenizer.fromJSON(tok, cfg, tokPath);
  }

  /** Async variant of {@link Tokenizer.fromDirectorySync}. */
  static async fromDirectory(dir: string): Promise<Tokenizer> {
    const tokPath = join(dir, 'tokenizer.json');
    const cfgPath = join(dir, 'tokenizer_config.json');
    const [tokText, cfgText] = await Promise.all([readTextAsync(tokPath, true), readTextAsync(cfgPath, false)]);
    const tok = parseJsonFile(tokPath, tokText!);
    const cfg = cfgText === undefined ? null : parseJsonFile(cfgPath, cfgText);
    return Tokenizer.fromJSON(tok, cfg, tokPath);
  }

  /** Token ids of `text`. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const parseSpecial = opts.parseSpecialTokens ?? true;
    const ids: number[] = [];
    const segments: Segment[] = [];
    this.matcher.split(text, parseSpecial, segments);
    const normSegments: Segment[] = [];
    for (const seg of segments) {
      if (seg.id >= 0) {
        ids.push(seg.id);
        continue;
      }
      const normalized = this.normalizer ? this.normalizer(seg.text) : seg.text;
      if (this.normalizedMatcher) {
        normSegments.length = 0;
        this.normalizedMatcher.split(normalized, parseSpecial, normSegments);
        for (const s of normSegments) {
          if (s.id >= 0) ids.push(s.id);
          else this.encodePlain(s.text, ids);
        }
      } else {
        this.encodePlain(normalized, ids);
      }
    }
    if ((opts.addSpecialTokens ?? true) && this.postProcess) return this.postProcess(ids);
    return ids;
  }

  private encodePlain(text: string, ids: number[]): void {
    const model = this.model;
    this.preTokenize(text, (start, end) => model.encodeRange(text, start, end, ids));
  }

  /** Text of `ids`; invalid UTF-8 becomes U+FFFD, unknown ids are skipped (as in HF tokenizers). */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      const b = this.idBytes(id, skip);
      if (b && b.length) {
        parts.push(b);
        total += b.length;
      }
    }
    const buf = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      buf.set(p, o);
      o += p.length;
    }
    return UTF8.decode(buf);
  }

  /** A streaming detokenizer: push ids one at a time, get text pieces that never split a character. */
  streamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder((id) => this.idBytes(id, opts.skipSpecialTokens ?? false));
  }

  /**
   * Bytes an id decodes to, or undefined when it is unknown or (with skipSpecial) a special token.
   * @internal
   */
  idBytes(id: number, skipSpecial: boolean): Uint8Array | undefined {
    const added = this.addedById.get(id);
    if (added && skipSpecial && added.special) return undefined;
    let b = this.bytesCache[id];
    if (b === undefined) {
      const tok = added ? added.content : this.model.idToToken[id];
      if (tok === undefined) return undefined;
      b = tokenBytes(tok);
      if (Number.isInteger(id) && id >= 0 && id < this.vocabSize) this.bytesCache[id] = b;
    }
    return b;
  }

  /** Id of a token string (added tokens first, then the BPE vocabulary). */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token) ?? this.model.vocab.get(token);
  }

  /** Token string of an id (byte-level spelling for BPE tokens, e.g. "Ġhello"). */
  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToToken[id];
  }

  /** True when the id is an added token flagged special (skipped by `skipSpecialTokens`). */
  isSpecial(id: number): boolean {
    return this.addedById.get(id)?.special === true;
  }
}

function readText(path: string, required: boolean): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    return readFailure(path, required, e);
  }
}

async function readTextAsync(path: string, required: boolean): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    return readFailure(path, required, e);
  }
}

function readFailure(path: string, required: boolean, e: unknown): undefined {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' && !required) return undefined;
  if (code === 'ENOENT') throw new TokenizerLoadError(path, 'file not found');
  throw new TokenizerLoadError(path, `cannot read: ${(e as Error).message}`);
}

function parseJsonFile(path: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerLoadError(path, `malformed JSON: ${(e as Error).message}`);
  }
}
