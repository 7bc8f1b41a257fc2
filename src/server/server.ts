/**
 * Runs the app on a Node HTTP server: listens first (so liveness answers and readiness says 503 while the
 * model loads), then loads the model, then serves; closes cleanly (engine shutdown, connections ended).
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { createApp } from './app.js';
import type { ServerOptions } from './config.js';
import type { Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { ModelHost, type ServedModel } from './model.js';

export interface RunningServer {
  host: ModelHost;
  server: Server;
  /** Base URL, e.g. http://127.0.0.1:8000 */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts listening; `load` supplies the model (awaited after the socket is open). */
export async function startServer(opts: ServerOptions, log: Logger, load: () => Promise<ServedModel> | ServedModel): Promise<RunningServer> {
  const host = new ModelHost();
  const app = createApp({ host, opts, log, metrics: new Metrics(opts.servedModelNames[0]) });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host;
  const url = `http://${shownHost}:${port}`;
  log.info('listening', { url, served_model_name: opts.servedModelNames });
  try {
    // let the event loop take the listen callback's peers first (loading may block it: the loader is synchronous)
    await new Promise((r) => setImmediate(r));
    host.setReady(await load());
    log.info('model ready', { dir: host.model!.dir, max_model_len: host.model!.maxModelLen });
  } catch (e) {
    host.setFailed((e as Error).message);
    log.error('model failed to load', { error: (e as Error).message });
  }
  return {
    host,
    server,
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        host.model?.engine.shutdown();
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
