// Typed errors of the chat-template layer. The server maps ChatInputError to HTTP 400 (its `param`
// names the offending request field) and the template errors to 400/500 as it sees fit.

/** Base class of every error thrown by src/template. */
export class ChatTemplateError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The request's messages/tools/kwargs cannot be rendered (unknown role, bad tool-call arguments...). */
export class ChatInputError extends ChatTemplateError {
  /** JSONPath-like location in the request, e.g. `messages[2].tool_calls[0].function.arguments`. */
  readonly param: string;
  constructor(param: string, message: string, options?: { cause?: unknown }) {
    super(`${param}: ${message}`, options);
    this.param = param;
  }
}

/** The template source does not parse. */
export class TemplateSyntaxError extends ChatTemplateError {}

/** Rendering failed inside the template (type error, undefined access, ...). */
export class TemplateRenderError extends ChatTemplateError {}

/** The template itself called `raise_exception(message)`. */
export class TemplateRaisedError extends TemplateRenderError {}

/** No usable chat template was found in a model directory. */
export class TemplateNotFoundError extends ChatTemplateError {}
