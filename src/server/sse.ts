/**
 * Server-sent events for streamed completions: `data: <json>\n\n` events, a final `data: [DONE]`, errors
 * after the stream started sent as `data: {"error":{...}}` (vLLM / openai-node convention). When the client
 * goes away (the response stream is cancelled or the request aborted) the signal handed to `run` aborts,
 * which cancels the engine requests.
 */
import { toApiError } from './errors.js';
import type { Logger } from './logger.js';

const enc = new TextEncoder();

/** Streams what `run` sends; `run` receives `send` and an abort signal for client disconnects. */
export function sseResponse(run: (send: (event: unknown) => void, signal: AbortSignal) => Promise<void>, requestSignal: AbortSignal | undefined, log: Logger): Response {
  const ac = new AbortController();
  const abort = () => ac.abort();
  requestSignal?.addEventListener('abort', abort, { once: true });
  let closed = false;
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (s: string) => {
        if (closed || ac.signal.aborted) return;
        try {
          controller.enqueue(enc.encode(s));
        } catch {
          closed = true;
        }
      };
      const send = (event: unknown) => write(`data: ${JSON.stringify(event)}\n\n`);
      run(send, ac.signal)
        .catch((e: unknown) => {
          const err = toApiError(e);
          if (err.status >= 500) log.error('stream failed', { error: String((err.cause as Error)?.stack ?? err.cause ?? (e as Error)?.stack ?? e) });
          send(err.toBody());
        })
        .finally(() => {
          write('data: [DONE]\n\n');
          requestSignal?.removeEventListener('abort', abort);
          if (!closed) {
            closed = true;
            try {
              controller.close();
            } catch {
              // already closed by a cancel
            }
          }
        });
    },
    cancel() {
      closed = true;
      ac.abort();
    },
  });
  return new Response(stream, {
    status: 200,
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' },
  });
}
