// Shapes shared by the built-in demo tools.

/** JSON-schema object describing a tool's arguments (the subset the demo tools use). */
export interface ToolParameters {
  type: 'object';
  properties: Record<string, { type: string; description?: string; enum?: string[] }>;
  required: string[];
}

/** What running a tool produced: a JSON-serialisable value, or an error text for the model. */
export type ToolOutcome = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

/** Things a tool may read from its surroundings; injectable so tests and data generation are reproducible. */
export interface ToolContext {
  /** Current time for the clock tool (default: the system clock). */
  now?: () => Date;
}

/** A built-in tool: its model-facing description and its implementation. */
export interface DemoTool {
  name: string;
  description: string;
  parameters: ToolParameters;
  /** Runs the tool on already-parsed arguments. Never throws for bad arguments: returns `{ok: false}`. */
  execute(args: Record<string, unknown>, ctx?: ToolContext): ToolOutcome;
}

/** OpenAI `tools[]` entry. */
export interface OpenAIFunctionTool {
  type: 'function';
  function: { name: string; description: string; parameters: ToolParameters };
}
