// Python's printf-style `str % values` (and Jinja's `format` filter) for the conversions templates
// use: %s %r %d %i %f %F %x %X %o %c %% with flags, width, precision and `%(name)s` mapping keys.
import { TemplateRenderError } from './errors.js';
import { pyRepr, pyStr } from './python-format.js';
import { PyFloat, isPlainObject } from './python-values.js';

const SPEC = /%(?:\(([^)]*)\))?([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXeEfFgGcrsa%])/g;

function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof PyFloat) return v.value;
  throw new TemplateRenderError(`%-format: a number is required, not ${pyRepr(v)}`);
}

/** Format `fmt % values` like Python (`values`: array of positional values, or a dict). */
export function percentFormat(fmt: string, values: unknown): string {
  const positional = Array.isArray(values) ? values : [values];
  const mapping = isPlainObject(values) ? values : null;
  let next = 0;
  const take = (): unknown => {
    if (next >= positional.length) throw new TemplateRenderError('not enough arguments for format string');
    return positional[next++];
  };
  const out = fmt.replace(SPEC, (_m, key: string | undefined, flags: string, width?: string, prec?: string, conv?: string) => {
    if (conv === '%') return '%';
    const w = width === '*' ? num(take()) : width ? Number(width) : 0;
    const p = prec === '*' ? num(take()) : prec !== undefined ? Number(prec) : undefined;
    const v = key !== undefined ? (mapping ? mapping[key] : undefined) : take();
    let body: string;
    let sign = '';
    switch (conv) {
      case 's':
      case 'r':
      case 'a':
        body = conv === 's' ? pyStr(v) : pyRepr(v);
        if (p !== undefined) body = Array.from(body).slice(0, p).join('');
        break;
      case 'c':
        body = typeof v === 'string' ? v : String.fromCodePoint(num(v));
        break;
      default: {
        const n = num(v);
        sign = n < 0 || Object.is(n, -0) ? '-' : flags.includes('+') ? '+' : flags.includes(' ') ? ' ' : '';
        const a = Math.abs(n);
        if (conv === 'f' || conv === 'F') body = a.toFixed(p ?? 6);
        else if (conv === 'e' || conv === 'E') body = a.toExponential(p ?? 6).replace(/e([+-])(\d)$/, 'e$10$2');
        else if (conv === 'g' || conv === 'G') body = String(Number(a.toPrecision(p || 6)));
        else {
          const i = Math.trunc(a);
          body = conv === 'x' || conv === 'X' ? i.toString(16) : conv === 'o' ? i.toString(8) : String(i);
          if (flags.includes('#') && (conv === 'x' || conv === 'X')) body = '0x' + body;
          if (flags.includes('#') && conv === 'o') body = '0o' + body;
        }
        if (conv === 'X' || conv === 'E' || conv === 'G') body = body.toUpperCase();
      }
    }
    const len = Array.from(sign + body).length;
    if (len >= w) return sign + body;
    if (flags.includes('-')) return sign + body + ' '.repeat(w - len);
    if (flags.includes('0') && !'srac'.includes(conv!)) return sign + '0'.repeat(w - len) + body;
    return ' '.repeat(w - len) + sign + body;
  });
  if (!mapping && next < positional.length) throw new TemplateRenderError('not all arguments converted during string formatting');
  return out;
}
