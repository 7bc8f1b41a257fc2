/**
 * JSON parsing that accepts what model configs contain in the wild: the bare tokens `Infinity`, `-Infinity`
 * and `NaN` (Python's json.dump writes them; the Nemotron hub config has `time_step_limit: [0.0, Infinity]`),
 * and transformers-5's `{"__float__": "Infinity"}` objects. Strict JSON is parsed unchanged.
 */
export function parseLenientJson(text: string): unknown {
  return JSON.parse(replaceBareNonFinite(text), (_key, value: unknown) => reviveFloat(value));
}

const SENTINEL = '\u0000nonfinite:';

function replaceBareNonFinite(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch === '"') {
      // copy a string literal verbatim, honouring escapes
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const m = /^(-?Infinity|NaN)\b/.exec(text.slice(i, i + 9));
    if (m && !/[A-Za-z0-9_$]/.test(text[i - 1] ?? '')) {
      out += JSON.stringify(SENTINEL + m[1]);
      i += m[1].length;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

function reviveFloat(value: unknown): unknown {
  if (typeof value === 'string' && value.startsWith(SENTINEL)) return Number(value.slice(SENTINEL.length));
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '__float__') {
      const v = (value as Record<string, unknown>).__float__;
      if (typeof v === 'string' || typeof v === 'number') return Number(v);
    }
  }
  return value;
}
