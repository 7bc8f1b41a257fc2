// Constrained decoding for structured outputs (response_format json_object / json_schema, tool_choice
// required / named): JSON-schema -> byte-level grammar -> token mask logits processor.
export { compileSchema, anyJsonObject, SchemaError } from './schema.js';
export { grammarConstraint, VocabIndex, type ConstraintOptions, type TokenSource } from './constraint.js';
export { advance, END, type Node, type State } from './grammar.js';
