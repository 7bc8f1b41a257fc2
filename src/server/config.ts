/**
 * Server settings from command-line flags and NIM environment variables (flags win, then NIM_* env vars,
 * then defaults — NIM 2.x precedence without the profile layers).
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ServerOptions {
  /** Model directory (config, weights, tokenizer, chat template). */
  modelDir: string;
  /** Names accepted in `model`; the first is reported by /v1/models. */
  servedModelNames: string[];
  host: string;
  port: number;
  /** When set, /v1 routes require `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Context cap (prompt + completion); default: the model's max_position_embeddings. */
  maxModelLen?: number;
  logLevel: LogLevel;
  /** Request bodies above this are refused with 413. */
  maxBodyBytes: number;
  /** A chat template file that replaces the model directory's. */
  chatTemplate?: string;
  /** Backend name for selectBackend (undefined = its default). */
  backend?: string;
  /** Which reasoning field names responses carry (serving-spec 0.2: both by default). */
  reasoningFields: 'both' | 'reasoning' | 'reasoning_content';
  maxRunning: number;
  maxWaiting: number;
  maxBatchTokens: number;
  prefillChunk: number;
  /** Largest `n`. */
  maxN: number;
  /** Largest top_logprobs (vLLM --max-logprobs). */
  maxLogprobs: number;
}

export const DEFAULT_SERVED_NAME = 'nvidia/nemotron-3-nano';

const LEVELS: Record<string, LogLevel> = { DEBUG: 'debug', INFO: 'info', WARNING: 'warn', WARN: 'warn', ERROR: 'error', CRITICAL: 'error', TRACE: 'debug' };

/** Maps NIM/Python level names (DEBUG, INFO, WARNING, ERROR, CRITICAL) and our own to a LogLevel. */
export function parseLogLevel(v: string): LogLevel {
  const l = LEVELS[v.toUpperCase()];
  if (!l) throw new RangeError(`unknown log level "${v}" (DEBUG, INFO, WARNING, ERROR, CRITICAL)`);
  return l;
}

function intFrom(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}, got "${v}"`);
  return n;
}

/** Flags as parsed by the serve command (strings, all optional). */
export interface ServerFlags {
  model?: string;
  'served-model-name'?: string;
  host?: string;
  port?: string;
  'api-key'?: string;
  'max-model-len'?: string;
  'log-level'?: string;
  'chat-template'?: string;
  backend?: string;
  'max-running'?: string;
  'max-waiting'?: string;
  'max-batch-tokens'?: string;
  'prefill-chunk'?: string;
  'max-body-bytes'?: string;
  'reasoning-fields'?: string;
}

/** Resolves options: flags > env (NIM_SERVED_MODEL_NAME, NIM_MAX_MODEL_LEN, NIM_SERVER_PORT, NIM_LOG_LEVEL...) > defaults. */
export function resolveOptions(flags: ServerFlags, env: NodeJS.ProcessEnv, defaultModelDir: () => string): ServerOptions {
  const names = (flags['served-model-name'] ?? env.NIM_SERVED_MODEL_NAME ?? DEFAULT_SERVED_NAME)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const rf = flags['reasoning-fields'] ?? env.NEMOTRON_REASONING_FIELDS ?? 'both';
  if (rf !== 'both' && rf !== 'reasoning' && rf !== 'reasoning_content') throw new RangeError(`--reasoning-fields must be both, reasoning or reasoning_content`);
  return {
    modelDir: flags.model ?? env.NIM_MODEL_PATH ?? defaultModelDir(),
    servedModelNames: names.length ? names : [DEFAULT_SERVED_NAME],
    host: flags.host ?? env.NIM_SERVER_HOST ?? '0.0.0.0',
    port: intFrom('port', flags.port ?? env.NIM_SERVER_PORT, 0) ?? 8000,
    apiKey: flags['api-key'] ?? env.NIM_API_KEY ?? env.NEMOTRON_API_KEY ?? undefined,
    maxModelLen: intFrom('max model len', flags['max-model-len'] ?? env.NIM_MAX_MODEL_LEN, 1),
    logLevel: parseLogLevel(flags['log-level'] ?? env.NIM_LOG_LEVEL ?? 'INFO'),
    maxBodyBytes: intFrom('max body bytes', flags['max-body-bytes'], 1024) ?? 16 * 1024 * 1024,
    chatTemplate: flags['chat-template'] ?? env.NIM_CHAT_TEMPLATE ?? undefined,
    backend: flags.backend ?? env.NEMOTRON_BACKEND ?? undefined,
    reasoningFields: rf,
    maxRunning: intFrom('max running', flags['max-running'] ?? env.NIM_MAX_NUM_SEQS, 1) ?? 16,
    maxWaiting: intFrom('max waiting', flags['max-waiting'], 0) ?? 256,
    maxBatchTokens: intFrom('max batch tokens', flags['max-batch-tokens'], 1) ?? 512,
    prefillChunk: intFrom('prefill chunk', flags['prefill-chunk'], 1) ?? 256,
    maxN: 16,
    maxLogprobs: 20,
  };
}
