// Chat-template rendering with Python Jinja2 semantics (see python-jinja.ts) and the input
// normalisation of serving-spec 0.9.
export { ChatTemplate, renderChat, type RenderChatOptions } from './chat-template.js';
export { ChatTemplateSet, loadChatTemplate, loadChatTemplates, specialTokensFromConfig, templatesFromConfig } from './loader.js';
export {
  normalizeMessages,
  normalizeToolArguments,
  normalizeTools,
  type InputRole,
  type NormalizedMessage,
  type NormalizedToolCall,
} from './normalize.js';
export {
  ChatInputError,
  ChatTemplateError,
  TemplateNotFoundError,
  TemplateRaisedError,
  TemplateRenderError,
  TemplateSyntaxError,
} from './errors.js';
export { JsonSyntaxError, parseJsonLossless } from './lossless-json.js';
export { KEY_ORDER, PyFloat, PyTuple } from './python-values.js';
export { pyFloatRepr, pyJsonDumps, pyRepr, pyStr, pyStrip, type PyJsonOptions } from './python-format.js';
