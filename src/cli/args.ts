/** Small helpers over node:util parseArgs for typed numeric flags with clear errors. */

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function numberFlag(values: Record<string, unknown>, name: string, opts: { int?: boolean; min?: number; max?: number } = {}): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (!Number.isFinite(v) || (opts.int && !Number.isInteger(v))) throw new UsageError(`--${name} must be ${opts.int ? 'an integer' : 'a number'}, got "${raw}"`);
  if (opts.min !== undefined && v < opts.min) throw new UsageError(`--${name} must be >= ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw new UsageError(`--${name} must be <= ${opts.max}`);
  return v;
}

export function idsFlag(raw: string, name: string): number[] {
  const ids = raw.split(/[,\s]+/).filter(Boolean).map(Number);
  if (ids.length === 0 || ids.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError(`--${name} must be comma-separated token ids, got "${raw}"`);
  return ids;
}
