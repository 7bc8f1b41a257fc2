// Output parsing for Nemotron 3 Nano: reasoning (nemotron_v3 semantics + implicit end on
// <tool_call>) and Qwen3-Coder XML tool calls, incremental and whole-text.
export { OutputParser, parseOutput, type OutputFinish, type OutputParserOptions } from './output.js';
export { ReasoningSplitter, type ReasoningSplit, type ReasoningSplitterOptions } from './reasoning.js';
export { ToolCallParser, makeToolCallId, type ToolCallEvent, type ToolCallParserOptions } from './tool-calls.js';
export { ToolSchemas, encodeParameterValue } from './tool-values.js';
export { parsePythonLiteral } from './python-literal.js';
export { promptOpensReasoning } from './prompt.js';
export type {
  OutputDelta,
  ParsedOutput,
  ParsedToolCall,
  ToolCallArgumentsDelta,
  ToolCallDelta,
  ToolCallStartDelta,
} from './types.js';
