/**
 * `nemotron serve`: the OpenAI / vLLM / NIM-compatible HTTP server. Settings come from flags, then the NIM
 * environment variables (NIM_SERVED_MODEL_NAME, NIM_MAX_MODEL_LEN, NIM_SERVER_PORT, NIM_LOG_LEVEL, ...).
 * Without --model it serves the model shipped in the package (models/default).
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../server/logger.js';
import { defaultModelDir, loadServedModel, requireModelDir } from '../../server/model.js';
import { resolveOptions, type ServerFlags } from '../../server/config.js';
import { startServer } from '../../server/server.js';
import { UsageError } from '../args.js';
import { loadingProgress } from '../../server/progress.js';

export const usage = `nemotron serve [--model DIR] [options]      OpenAI-compatible server (POST /v1/chat/completions ...)
  --model DIR               model directory (default: the built-in model; env NIM_MODEL_PATH)
  --host HOST               bind address (default 0.0.0.0)
  --port N                  port (default 8000; env NIM_SERVER_PORT)
  --served-model-name NAME  name(s) clients use, comma-separated (default nvidia/nemotron-3-nano; env NIM_SERVED_MODEL_NAME)
  --max-model-len N         context cap, prompt + completion (env NIM_MAX_MODEL_LEN)
  --api-key KEY             require "Authorization: Bearer KEY" on /v1 (env NIM_API_KEY)
  --log-level LEVEL         DEBUG, INFO, WARNING, ERROR (default INFO; env NIM_LOG_LEVEL); logs are JSON lines on stderr
  --chat-template FILE      use this Jinja chat template instead of the model's (env NIM_CHAT_TEMPLATE)
  --reasoning-fields F      both (default), reasoning or reasoning_content
  --max-running N           sequences decoded together (default 16; env NIM_MAX_NUM_SEQS)
  --max-waiting N           queued requests before 429 (default 256)
  --max-batch-tokens N      tokens per engine step (default 512)
  --prefill-chunk N         largest prompt slice per step (default 256)
  --max-body-bytes N        request body limit (default 16 MiB)
  --backend NAME            cpu-simd (default), cpu-fast, cpu-ref or cuda (env NEMOTRON_BACKEND)`;

export async function run(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(
      ['model', 'host', 'port', 'served-model-name', 'max-model-len', 'api-key', 'log-level', 'chat-template', 'reasoning-fields', 'max-running', 'max-waiting', 'max-batch-tokens', 'prefill-chunk', 'max-body-bytes', 'backend'].map((k) => [k, { type: 'string' as const }]),
    ),
  });
  let opts;
  try {
    opts = resolveOptions(values as ServerFlags, process.env, defaultModelDir);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  requireModelDir(opts.modelDir, values.model === undefined && process.env.NIM_MODEL_PATH === undefined);
  const log = createLogger(opts.logLevel);
  // a server logs a stray rejection instead of dying with every request in flight
  process.on('unhandledRejection', (e) => log.error('unhandled rejection', { error: String((e as Error)?.stack ?? e) }));
  const progress = loadingProgress(`loading ${opts.modelDir}`);
  const srv = await startServer(opts, log, async () => {
    try {
      return await loadServedModel(opts.modelDir, {
        backend: opts.backend,
        maxModelLen: opts.maxModelLen,
        chatTemplate: opts.chatTemplate,
        engine: { maxRunning: opts.maxRunning, maxWaiting: opts.maxWaiting, maxBatchTokens: opts.maxBatchTokens, prefillChunk: opts.prefillChunk },
        onProgress: progress.update,
      });
    } finally {
      progress.stop();
    }
  });
  if (srv.host.status === 'failed') {
    await srv.close();
    throw new Error(`could not load ${opts.modelDir}: ${srv.host.error}`);
  }
  // build the vocabulary trie for constrained decoding now, not in the middle of the first JSON request
  const t0 = performance.now();
  srv.host.model?.vocab();
  log.debug('vocabulary index built', { ms: Math.round(performance.now() - t0) });
  process.stderr.write(`nemotron: serving "${opts.servedModelNames[0]}" at ${srv.url}/v1 (Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info('shutting down', { signal: sig });
      void srv.close().then(resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
