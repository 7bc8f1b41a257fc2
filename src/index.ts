/**
 * nemotron-ts public API: load a NemotronH checkpoint, generate, batch requests through the engine, and the
 * text layer (tokenizer, chat template, reasoning / tool-call parsing).
 */
export const VERSION = '0.1.0';

export { loadModel, loadGenerationDefaults, resolveTensors, type LoadedModel, type LoadOptions, type GenerationDefaults } from './loaders/load-model.js';
export { Checkpoint } from './loaders/checkpoint.js';
export { CheckpointError } from './loaders/safetensors.js';
export { loadConfig, parseConfig, ConfigError, type NemotronHConfig, type LayerKind } from './models/config.js';
export { NemotronH, type SequenceState, type SequenceInput } from './models/nemotron-h.js';
export { parameterCounts } from './models/params.js';
export type { Ops, Tensor, OpName } from './ops/ops.js';
export { selectBackend, BACKENDS } from './runtime/select.js';
export { generate, generateStream, type GenerateOptions, type GeneratedToken, type GenerateResult, type FinishReason } from './engine/generate.js';
export { Sampler, type SamplingParams } from './engine/sampling.js';
export { Engine, EngineError, type EngineRequest, type EngineOptions, type EngineStats, type RequestHandle, type TokenEvent, type LogitsProcessor } from './engine/engine.js';
export { Tokenizer, StreamDecoder, TokenizerLoadError } from './tokenizer/index.js';
export { ChatTemplate, renderChat, loadChatTemplate, normalizeMessages, ChatInputError, TemplateRenderError } from './template/index.js';
export { OutputParser, parseOutput } from './parsers/index.js';
