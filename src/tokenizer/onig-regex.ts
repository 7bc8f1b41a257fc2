// Translates the Oniguruma patterns found in tokenizer.json files (compiled by the Rust `tokenizers` crate with
// Oniguruma's Ruby syntax and Unicode semantics) into equivalent JavaScript `u`-mode patterns.
//
// Differences that matter for tokenizer patterns, and how they are bridged:
//  - `\s` is Unicode White_Space in Oniguruma (includes U+0085, excludes U+FEFF); JavaScript's `\s` is a
//    different set (includes U+FEFF, excludes U+0085), so `\s`/`\S` become `\p{White_Space}`/`\P{White_Space}`.
//  - `\d`, `\w`, `\b` are Unicode-aware in Oniguruma and ASCII-only in JavaScript: expanded to properties.
//  - `(?i:...)` scoped case-insensitivity does not exist in Node 20: letters inside become classes of their
//    simple case-fold equivalents (including U+212A KELVIN SIGN for k and U+017F LONG S for s, which Oniguruma's
//    Unicode folding matches too).
//  - `.`, `^`, `$` are line-based in Oniguruma (only `\n` ends a line).
// Constructs with no faithful translation (possessive and atomic groups, nested classes, `&&`, backreferences,
// inline flag switches) are rejected with an error rather than approximated.

export class UnsupportedPatternError extends Error {}

const WORD = '\\p{L}\\p{M}\\p{Nd}\\p{Pc}';
const SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
// Simple case-fold partners that toLowerCase/toUpperCase do not reach from an ASCII letter.
const EXTRA_FOLDS: Record<string, string> = { k: '\u212a', s: '\u017f' };

function caseVariants(ch: string): string[] {
  const out = new Set<string>([ch]);
  for (const v of [ch.toLowerCase(), ch.toUpperCase()]) if ([...v].length === 1) out.add(v);
  const extra = EXTRA_FOLDS[ch.toLowerCase()];
  if (extra) out.add(extra);
  return [...out];
}

function isLetter(ch: string): boolean {
  return ch.toLowerCase() !== ch.toUpperCase();
}

/** Returns the JavaScript source (for flags `gu`) equivalent to an Oniguruma pattern. */
export function onigToJs(pattern: string): string {
  let out = '';
  let i = 0;
  let inClass = false;
  let classFresh = false; // just after `[` or `[^`: a `]` here is a literal
  const ciStack: boolean[] = [false];
  const ci = (): boolean => ciStack[ciStack.length - 1];
  const fail = (what: string): never => {
    throw new UnsupportedPatternError(`unsupported regex construct ${what} at offset ${i} in ${JSON.stringify(pattern)}`);
  };
  const checkPossessive = (): void => {
    if (pattern[i] === '+') fail('possessive quantifier');
    if (pattern[i] === '?') {
      out += '?';
      i++;
    }
  };

  while (i < pattern.length) {
    const cp = pattern.codePointAt(i)!;
    const c = String.fromCodePoint(cp);
    const wasFresh = classFresh;
    classFresh = false;
    if (c === '\\') {
      const n = pattern[i + 1];
      if (n === undefined) fail('trailing backslash');
      i += 2;
      switch (n) {
        case 'p':
        case 'P': {
          const close = pattern.indexOf('}', i);
          if (pattern[i] !== '{' || close < 0) fail('\\p without braces');
          let name = pattern.slice(i + 1, close);
          let neg = n === 'P';
          if (name.startsWith('^')) {
            neg = !neg;
            name = name.slice(1);
          }
          out += `\\${neg ? 'P' : 'p'}{${name}}`;
          i = close + 1;
          break;
        }
        case 's':
          out += '\\p{White_Space}';
          break;
        case 'S':
          out += '\\P{White_Space}';
          break;
        case 'd':
          out += '\\p{Nd}';
          break;
        case 'D':
          out += '\\P{Nd}';
          break;
        case 'w':
          out += inClass ? WORD : `[${WORD}]`;
          break;
        case 'W':
          if (inClass) fail('\\W inside a class');
          out += `[^${WORD}]`;
          break;
        case 'r':
        case 'n':
        case 't':
        case 'f':
        case 'v':
          out += '\\' + n;
          break;
        case 'a':
          out += '\\x07';
          break;
        case 'e':
          out += '\\x1b';
          break;
        case 'x': {
          if (pattern[i] === '{') {
            const close = pattern.indexOf('}', i);
            if (close < 0) fail('\\x{ without }');
            out += `\\u{${pattern.slice(i + 1, close)}}`;
            i = close + 1;
          } else {
            out += '\\x' + pattern.slice(i, i + 2);
            i += 2;
          }
          break;
        }
        case 'u':
          out += '\\u' + pattern.slice(i, i + 4);
          i += 4;
          break;
        case 'A':
          if (inClass) fail('\\A inside a class');
          out += '^';
          break;
        case 'z':
          if (inClass) fail('\\z inside a class');
          out += '$';
          break;
        case 'Z':
          if (inClass) fail('\\Z inside a class');
          out += '(?=\\n?$)';
          break;
        case 'b':
          out += inClass ? '\\x08' : `(?:(?<=[${WORD}])(?![${WORD}])|(?<![${WORD}])(?=[${WORD}]))`;
          break;
        case 'B':
          if (inClass) fail('\\B inside a class');
          out += `(?:(?<=[${WORD}])(?=[${WORD}])|(?<![${WORD}])(?![${WORD}]))`;
          break;
        default:
          if (/[0-9A-Za-z]/.test(n)) fail(`\\${n}`);
          out += SYNTAX.has(n) || (inClass && n === '-') ? '\\' + n : n;
      }
      continue;
    }
    i += c.length;
    if (inClass) {
      if (c === ']' && !wasFresh) {
        out += ']';
        inClass = false;
      } else if (c === ']') {
        out += '\\]';
      } else if (c === '[') {
        fail('nested character class');
      } else if (c === '&' && pattern[i] === '&') {
        fail('class intersection &&');
      } else if (ci() && isLetter(c)) {
        out += caseVariants(c).join('');
      } else {
        out += c;
      }
      continue;
    }
    switch (c) {
      case '[':
        out += '[';
        inClass = true;
        classFresh = true;
        if (pattern[i] === '^') {
          out += '^';
          i++;
        }
        break;
      case '(': {
        if (pattern[i] !== '?') {
          ciStack.push(ci());
          out += '(';
          break;
        }
        const rest = pattern.slice(i + 1);
        if (rest.startsWith(':') || rest.startsWith('=') || rest.startsWith('!')) {
          out += '(?' + rest[0];
          i += 2;
          ciStack.push(ci());
        } else if (rest.startsWith('<=') || rest.startsWith('<!')) {
          out += '(?' + rest.slice(0, 2);
          i += 3;
          ciStack.push(ci());
        } else if (/^<[A-Za-z_]\w*>/.test(rest)) {
          const end = rest.indexOf('>');
          out += '(?' + rest.slice(0, end + 1);
          i += end + 2;
          ciStack.push(ci());
        } else if (rest.startsWith('i:') || rest.startsWith('-i:')) {
          out += '(?:';
          i += rest.startsWith('i:') ? 3 : 4;
          ciStack.push(rest.startsWith('i:'));
        } else {
          fail(`group (?${rest.slice(0, 3)}`);
        }
        break;
      }
      case ')':
        if (ciStack.length === 1) fail('unbalanced )');
        ciStack.pop();
        out += ')';
        checkPossessive();
        break;
      case '.':
        out += '[^\\n]';
        break;
      case '^':
        out += '(?<![^\\n])';
        break;
      case '$':
        out += '(?![^\\n])';
        break;
      case '*':
      case '+':
      case '?':
        out += c;
        checkPossessive();
        break;
      case '{': {
        const m = /^(\d*)(,?)(\d*)\}/.exec(pattern.slice(i));
        if (m && (m[1] !== '' || m[3] !== '')) {
          out += `{${m[1] === '' ? '0' : m[1]}${m[2]}${m[3]}}`;
          i += m[0].length;
          if (pattern[i] === '+') fail('quantifier followed by +');
          if (pattern[i] === '?') {
            out += '?';
            i++;
          }
        } else {
          out += '\\{';
        }
        break;
      }
      case '}':
        out += '\\}';
        break;
      default:
        if (ci() && isLetter(c)) {
          const v = caseVariants(c);
          out += v.length > 1 ? `[${v.join('')}]` : c;
        } else {
          out += c;
        }
    }
  }
  if (inClass) fail('unterminated character class');
  if (ciStack.length !== 1) fail('unbalanced (');
  return out;
}

/** Compiles an Oniguruma pattern to a global, Unicode JavaScript RegExp. */
export function compileOnig(pattern: string): RegExp {
  const src = onigToJs(pattern);
  try {
    return new RegExp(src, 'gu');
  } catch (e) {
    throw new UnsupportedPatternError(
      `regex ${JSON.stringify(pattern)} (translated to ${JSON.stringify(src)}) does not compile: ${(e as Error).message}`,
    );
  }
}
