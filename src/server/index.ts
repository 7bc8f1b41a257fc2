// The OpenAI / vLLM / NIM-compatible HTTP server.
export { createApp, readJsonBody, type AppDeps } from './app.js';
export { resolveOptions, parseLogLevel, DEFAULT_SERVED_NAME, type ServerOptions, type ServerFlags, type LogLevel } from './config.js';
export { ApiError, type ErrorBody } from './errors.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export { Metrics } from './metrics.js';
export { loadServedModel, ModelHost, defaultModelDir, requireModelDir, type ServedModel } from './model.js';
export { startServer, type RunningServer } from './server.js';
