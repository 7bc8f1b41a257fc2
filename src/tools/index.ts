// The built-in demo tools (calculator, unit converter, clock) that the demo model was trained to call and
// that `nemotron chat` runs: OpenAI function schemas, argument validation and execution.
import { calculatorTool } from './calculator.js';
import { clockTool } from './clock.js';
import { unitConverterTool } from './unit-converter.js';
import type { DemoTool, OpenAIFunctionTool, ToolContext } from './types.js';

export { calculate, calculatorTool, evaluateExact, ExpressionError } from './calculator.js';
export { CITY_ZONES, clockTool, localTime, resolveTimeZone, type LocalTime } from './clock.js';
export { convert, convertExact, findUnit, formatSignificant, UnitError, UNITS, unitConverterTool, type UnitInfo } from './unit-converter.js';
export { ArithmeticError, Rational } from './rational.js';
export type { DemoTool, OpenAIFunctionTool, ToolContext, ToolOutcome, ToolParameters } from './types.js';

/** Every built-in tool, in the order they are offered to the model. */
export const DEMO_TOOLS: readonly DemoTool[] = [calculatorTool, unitConverterTool, clockTool];

/** The built-in tool called `name`, if any. */
export function findTool(name: string): DemoTool | undefined {
  return DEMO_TOOLS.find((t) => t.name === name);
}

/** OpenAI `tools[]` entry for a tool. */
export function toolSchema(tool: DemoTool): OpenAIFunctionTool {
  return { type: 'function', function: { name: tool.name, description: tool.description, parameters: tool.parameters } };
}

/** OpenAI `tools[]` for the named built-in tools (all of them by default). */
export function demoToolSchemas(names?: readonly string[]): OpenAIFunctionTool[] {
  const tools = names ? names.map((n) => findTool(n) ?? unknown(n)) : DEMO_TOOLS;
  return tools.map(toolSchema);
}

function unknown(name: string): never {
  throw new RangeError(`no built-in tool named '${name}'`);
}

/**
 * Checks parsed arguments against a tool's schema: every required key present, no unknown keys, and each
 * value of the declared JSON type (`number` also accepts numeric text, as tool-call parsers may leave it).
 * Returns the list of problems (empty when valid).
 */
export function validateArguments(tool: DemoTool, args: unknown): string[] {
  if (!args || typeof args !== 'object' || Array.isArray(args)) return ['arguments are not an object'];
  const a = args as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of tool.parameters.required) if (!(key in a)) problems.push(`missing required argument '${key}'`);
  for (const [key, value] of Object.entries(a)) {
    const prop = tool.parameters.properties[key];
    if (!prop) {
      problems.push(`unknown argument '${key}'`);
      continue;
    }
    const ok =
      prop.type === 'string'
        ? typeof value === 'string'
        : prop.type === 'number'
          ? (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value))
          : true;
    if (!ok) problems.push(`argument '${key}' should be a ${prop.type}`);
  }
  return problems;
}

/**
 * Runs a built-in tool and returns the text of the `tool` message to send back to the model: a JSON object,
 * `{"error": ...}` when the tool or its arguments failed. `args` may be an object or OpenAI's JSON string.
 */
export function runTool(name: string, args: unknown, ctx?: ToolContext): string {
  const tool = findTool(name);
  if (!tool) return JSON.stringify({ error: `unknown tool '${name}'` });
  let parsed: unknown = args;
  if (typeof args === 'string') {
    try {
      parsed = args.trim() === '' ? {} : JSON.parse(args);
    } catch {
      return JSON.stringify({ error: 'arguments are not valid JSON' });
    }
  }
  const problems = validateArguments(tool, parsed);
  if (problems.length) return JSON.stringify({ error: problems.join('; ') });
  const out = tool.execute(parsed as Record<string, unknown>, ctx);
  return JSON.stringify(out.ok ? out.value : { error: out.error });
}
