/**
 * The HTTP app (hono, Web-standard Request -> Response, so tests call `app.request()` in-process): routes of
 * the OpenAI / vLLM / NIM surface, bearer-key auth, body limits and JSON/UTF-8 checks, readiness gating,
 * request ids, access logs and metrics. Every failure leaves as an OpenAI-shaped error body; unknown errors
 * are logged with their stack and answered with a bare 500.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono, type Context } from 'hono';
import { ChatInputError, ChatTemplateError } from '../template/index.js';
import { chatCompletions } from './chat.js';
import { completions } from './completions.js';
import type { ServerOptions } from './config.js';
import { ApiError, badRequest, toApiError } from './errors.js';
import type { Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { ModelHost, packageRoot } from './model.js';
import { detokenizeRequestSchema, parseRequest, tokenizeRequestSchema } from './protocol.js';
import { checkModel, newId, type RouteContext } from './request.js';

export interface AppDeps {
  host: ModelHost;
  opts: ServerOptions;
  log: Logger;
  metrics?: Metrics;
}

let cachedVersion: string | null = null;
/** The package version (package.json). */
export function packageVersion(): string {
  if (cachedVersion) return cachedVersion;
  try {
    cachedVersion = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    cachedVersion = '0.0.0';
  }
  return cachedVersion;
}

/** Reads a JSON object body: size limit (413), UTF-8 (400), JSON syntax (400), object (400). */
export async function readJsonBody(req: Request, limit: number): Promise<Record<string, unknown>> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit) throw new ApiError('payload_too_large', `The request body is ${declared} bytes; the limit is ${limit} bytes`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) {
        await reader.cancel().catch(() => {});
        throw new ApiError('payload_too_large', `The request body is over the limit of ${limit} bytes`);
      }
      chunks.push(value);
    }
  }
  const buf = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    buf.set(c, o);
    o += c.length;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw badRequest('The request body is not valid UTF-8');
  }
  if (text.trim() === '') throw badRequest('The request body is empty; expected a JSON object');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw badRequest(`The request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('The request body must be a JSON object');
  return body as Record<string, unknown>;
}

const sameKey = (a: string, b: string): boolean => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** Builds the app. The model may still be loading: inference routes answer 503 until `host` is ready. */
export function createApp(deps: AppDeps): Hono {
  const { host, opts, log } = deps;
  const metrics = deps.metrics ?? new Metrics(opts.servedModelNames[0]);
  const app = new Hono();
  const errorResponse = (c: Context, e: ApiError) => c.json(e.toBody(), e.status as 400);

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id') ?? newId('req');
    c.set('requestId' as never, requestId as never);
    const t0 = performance.now();
    await next();
    c.header('x-request-id', requestId);
    const status = c.res.status;
    const route = c.req.routePath ?? c.req.path;
    metrics.httpRequests.inc({ method: c.req.method, route, status: String(status) });
    if (status >= 400) metrics.requestFailure.inc({ ...metrics.labels, status: String(status) });
    const quiet = c.req.path.startsWith('/v1/health') || c.req.path === '/metrics' || c.req.path === '/health';
    (quiet ? log.debug : log.info)('http', { request_id: requestId, method: c.req.method, path: c.req.path, status, ms: Math.round(performance.now() - t0) });
  });

  // bearer-key auth for the API routes (health, version and metrics stay open, as in NIM)
  const guarded = (p: string) => (p.startsWith('/v1/') && !p.startsWith('/v1/health') && p !== '/v1/version' && p !== '/v1/metrics') || p === '/tokenize' || p === '/detokenize';
  app.use('*', async (c, next) => {
    if (opts.apiKey && guarded(c.req.path)) {
      const auth = c.req.header('authorization') ?? '';
      const m = /^Bearer\s+(.+)$/i.exec(auth);
      if (!m || !sameKey(m[1].trim(), opts.apiKey)) return errorResponse(c, new ApiError('unauthorized', 'Invalid or missing API key (send "Authorization: Bearer <key>")'));
    }
    await next();
  });

  const ready = (): RouteContext['model'] => {
    if (host.status === 'ready' && host.model) return host.model;
    if (host.status === 'failed') throw new ApiError('not_ready', `The model failed to load: ${host.error}`);
    throw new ApiError('not_ready', 'The model is still loading; retry when /v1/health/ready answers 200');
  };
  const ctxOf = (c: Context): RouteContext => ({ model: ready(), opts, metrics, log, requestId: c.get('requestId' as never) as string });

  // -- inference
  app.post('/v1/chat/completions', async (c) => {
    const ctx = ctxOf(c);
    return chatCompletions(ctx, await readJsonBody(c.req.raw, opts.maxBodyBytes), c.req.raw.signal);
  });
  app.post('/v1/completions', async (c) => {
    const ctx = ctxOf(c);
    return completions(ctx, await readJsonBody(c.req.raw, opts.maxBodyBytes), c.req.raw.signal);
  });

  // -- models
  const card = (id: string) => {
    const m = host.model;
    const created = m?.createdAt ?? Math.floor(host.startedAt / 1000);
    return {
      id,
      object: 'model',
      created,
      owned_by: 'nvidia',
      root: id,
      parent: null,
      max_model_len: m?.maxModelLen ?? null,
      permission: [
        { id: `modelperm-${id.replace(/[^a-zA-Z0-9]/g, '')}`, object: 'model_permission', created, allow_create_engine: false, allow_sampling: true, allow_logprobs: true, allow_search_indices: false, allow_view: true, allow_fine_tuning: false, organization: '*', group: null, is_blocking: false },
      ],
    };
  };
  app.get('/v1/models', (c) => c.json({ object: 'list', data: opts.servedModelNames.map(card) }));
  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    if (!opts.servedModelNames.includes(id)) throw new ApiError('model_not_found', `The model \`${id}\` does not exist.`, 'model');
    return c.json(card(id));
  });

  // -- health and management (NIM)
  app.get('/v1/health/live', (c) => c.json({ object: 'health.response', message: 'Service is live.', status: 'live' }));
  const readyBody = (c: Context) => {
    if (host.status === 'ready') return c.json({ object: 'health.response', message: 'Service is ready.', status: 'ready' });
    const message = host.status === 'failed' ? `Service failed to load the model: ${host.error}` : 'Service is not ready: the model is loading.';
    return c.json({ object: 'health.response', message, status: host.status === 'failed' ? 'failed' : 'not_ready' }, 503);
  };
  app.get('/v1/health/ready', readyBody);
  app.get('/health', (c) => (host.status === 'ready' ? c.body(null, 200) : readyBody(c)));
  app.get('/ping', (c) => (host.status === 'ready' ? c.body(null, 200) : readyBody(c)));
  app.get('/v1/version', (c) => c.json({ release: packageVersion(), api: '1.0.0' }));
  app.get('/version', (c) => c.json({ version: packageVersion() }));
  app.get('/v1/metadata', (c) =>
    c.json({
      version: packageVersion(),
      modelInfo: opts.servedModelNames.map((name) => ({ shortName: name, modelUrl: host.model?.dir ?? opts.modelDir })),
      selectedModelProfileId: opts.backend ?? 'default',
      licenseInfo: { name: 'Apache-2.0', path: 'LICENSE' },
      assetInfo: [],
      repository_override: null,
    }),
  );
  app.get('/v1/manifest', (c) => c.json({ profiles: [{ id: opts.backend ?? 'default', description: `nemotron-ts ${opts.backend ?? 'default'} backend`, tags: { backend: opts.backend ?? 'default' } }] }));
  app.get('/v1/license', (c) => c.json({ name: 'Apache-2.0', text: 'nemotron-ts is licensed under the Apache License 2.0. Model weights carry their own license.' }));
  const metricsText = (c: Context) => {
    const s = host.model?.engine.stats;
    const body = metrics.render(s ? { running: s.running, waiting: s.waiting, stateBytes: s.stateBytes, liveStates: s.liveStates, maxRunning: opts.maxRunning } : null);
    return c.body(body, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  };
  app.get('/metrics', metricsText);
  app.get('/v1/metrics', metricsText);

  // -- tokenizer extras (vLLM)
  const tokenize = async (c: Context) => {
    const ctx = ctxOf(c);
    const req = parseRequest(tokenizeRequestSchema, await readJsonBody(c.req.raw, opts.maxBodyBytes));
    checkModel(ctx, req.model);
    const tok = ctx.model.tokenizer;
    let tokens: number[];
    if ((req.prompt == null) === (req.messages == null)) throw badRequest('give exactly one of prompt or messages', 'prompt');
    if (req.messages) {
      const t = ctx.model.templates;
      if (!t) throw badRequest('this model has no chat template', 'messages');
      let text: string;
      try {
        text = t.select(undefined, !!req.tools).render(req.messages, { tools: req.tools ?? null, addGenerationPrompt: req.add_generation_prompt ?? true, templateKwargs: req.chat_template_kwargs ?? {} });
      } catch (e) {
        if (e instanceof ChatInputError) throw badRequest(e.message, e.param);
        if (e instanceof ChatTemplateError) throw badRequest(`the chat template failed: ${e.message}`, 'messages');
        throw e;
      }
      tokens = tok.encode(text, { addSpecialTokens: req.add_special_tokens ?? false });
    } else tokens = tok.encode(req.prompt!, { addSpecialTokens: req.add_special_tokens ?? true });
    const out: Record<string, unknown> = { count: tokens.length, max_model_len: ctx.model.maxModelLen, tokens };
    if (req.return_token_strs) out.token_strs = tokens.map((t) => tok.idToToken(t) ?? null);
    return c.json(out);
  };
  const detokenize = async (c: Context) => {
    const ctx = ctxOf(c);
    const req = parseRequest(detokenizeRequestSchema, await readJsonBody(c.req.raw, opts.maxBodyBytes));
    checkModel(ctx, req.model);
    const bad = req.tokens.find((t) => t >= ctx.model.tokenizer.vocabSize);
    if (bad !== undefined) throw badRequest(`token id ${bad} is outside the vocabulary [0, ${ctx.model.tokenizer.vocabSize})`, 'tokens');
    return c.json({ prompt: ctx.model.tokenizer.decode(req.tokens) });
  };
  app.post('/tokenize', tokenize);
  app.post('/detokenize', detokenize);
  app.post('/v1/tokenize', tokenize);
  app.post('/v1/detokenize', detokenize);

  app.notFound((c) => errorResponse(c, new ApiError('not_found', `Not found: ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    const e = toApiError(err);
    if (e.status >= 500) log.error('request failed', { request_id: c.get('requestId' as never), error: String((e.cause as Error)?.stack ?? e.cause ?? err?.stack ?? err) });
    return errorResponse(c, e);
  });
  return app;
}
