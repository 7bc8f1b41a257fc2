export {
  Tokenizer,
  TokenizerLoadError,
  type AddedTokenInfo,
  type DecodeOptions,
  type EncodeOptions,
  type SpecialTokenIds,
} from './tokenizer.js';
export { StreamDecoder } from './stream-decoder.js';
