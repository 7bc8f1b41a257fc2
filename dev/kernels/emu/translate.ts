/**
 * Source-to-source steps that let g++ compile a kernel file against cuda_emu.h, leaving the kernel code itself as
 * written: each inline-PTX `asm(...)` statement becomes calls into ptx.h (one per instruction, operands in template
 * order), `extern __shared__ T x[];` becomes a pointer to the emulated dynamic shared memory, and the kernel table
 * that emu_launch looks names up in is generated from launch.ts's parseKernels. Line numbers are preserved and
 * `#line` points g++'s messages at the real source file.
 */
import { parseKernels } from '../../../src/backends/cuda/launch.js';

/** Index of the `)` that closes the `(` at `open`, skipping string and character literals. */
function closing(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === "'") {
      for (i++; i < s.length && s[i] !== c; i++) if (s[i] === '\\') i++;
    } else if (c === '(' || c === '{' || c === '[') depth++;
    else if (c === ')' || c === '}' || c === ']') {
      if (--depth === 0) return i;
    }
  }
  throw new Error('unbalanced parentheses');
}

/** Splits at `sep` outside brackets and string literals. */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') {
      for (i++; i < s.length && s[i] !== '"'; i++) if (s[i] === '\\') i++;
    } else if ('({['.includes(c)) depth++;
    else if (')}]'.includes(c)) depth--;
    else if (c === sep && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

const REG_TYPE: Record<string, string> = { u64: 'unsigned long long', b64: 'unsigned long long', s64: 'long long', u32: 'unsigned', b32: 'unsigned', s32: 'int', f32: 'float', pred: 'bool' };

/** One asm statement's inner text (between its parentheses) as C++ statements calling ptx::. */
export function asmToCalls(inner: string, where: string): string {
  const [tmpl, outs = '', ins = ''] = splitTop(inner, ':');
  const template = [...tmpl.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\n/g, '\n').replace(/\\t/g, ' ')).join('');
  const operands = [...splitTop(outs, ','), ...splitTop(ins, ',')]
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      const m = /^"[^"]*"\s*\(([\s\S]*)\)$/.exec(o);
      if (!m) throw new Error(`${where}: cannot read asm operand ${o}`);
      return `(${m[1].trim()})`;
    });
  const temps = new Set<string>();
  const arg = (a: string): string[] => {
    a = a.trim();
    if (a.startsWith('{')) return a.slice(1, -1).split(',').flatMap(arg);
    if (a.startsWith('[')) {
      if (!/^\[\s*[%\w]+\s*\]$/.test(a)) throw new Error(`${where}: address with an offset (${a}) is not emulated`);
      return arg(a.slice(1, -1));
    }
    const m = /^%(\d+)$/.exec(a);
    if (m) {
      const o = operands[Number(m[1])];
      if (!o) throw new Error(`${where}: asm operand ${a} not given`);
      return [o];
    }
    const sreg = /^%%(\w+)$/.exec(a); // a special register (%globaltimer, %smid)
    if (sreg) return [`ptx::sreg_${sreg[1]}()`];
    if (temps.has(a)) return [`ptx_reg_${a}`]; // renamed: the operand expressions may use the same name
    if (/^-?\d+$/.test(a)) return [a];
    throw new Error(`${where}: asm argument ${a} is not emulated`);
  };
  const body = template.trim().replace(/^\{([\s\S]*)\}$/, '$1');
  const stmts: string[] = [];
  for (const raw of body.split(/[;\n]/)) {
    const ins = raw.trim();
    if (!ins) continue;
    const reg = /^\.reg\s+\.(\w+)\s+(.+)$/.exec(ins);
    if (reg) {
      const type = REG_TYPE[reg[1]];
      if (!type) throw new Error(`${where}: .reg .${reg[1]} is not emulated`);
      const names = reg[2].split(',').map((n) => n.trim());
      names.forEach((n) => temps.add(n));
      stmts.push(`${type} ${names.map((n) => `ptx_reg_${n}`).join(', ')};`);
      continue;
    }
    if (ins.startsWith('@')) throw new Error(`${where}: predicated PTX (${ins}) is not emulated`);
    const [, op, rest] = /^(\S+)\s*([\s\S]*)$/.exec(ins)!;
    const args = rest ? splitTop(rest, ',').flatMap(arg) : [];
    stmts.push(`ptx::${op.replace(/::|\./g, '_')}(${args.join(', ')});`);
  }
  return stmts.join(' ');
}

/** The translated text of one kernel source (a .cu or a header), same line count. */
export function translateSource(source: string, file: string, path: string): string {
  let out = '';
  let last = 0;
  const re = /\basm\b(\s+volatile\b)?\s*\(/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    const open = m.index + m[0].length - 1;
    const close = closing(source, open);
    const line = source.slice(0, m.index).split('\n').length;
    const span = source.slice(m.index, close + 1);
    // do/while: the statement stays one statement (the source's `;` follows); newlines keep the line numbers
    out += source.slice(last, m.index) + `do { ${asmToCalls(source.slice(open + 1, close), `${file}:${line}`)} ${'\n'.repeat(span.split('\n').length - 1)}} while (0)`;
    last = close + 1;
    re.lastIndex = last;
  }
  out += source.slice(last);
  out = out.replace(/extern\s+__shared__\s+([^;[]*?)\s*(\w+)\s*\[\s*\]\s*;/g, (_m, type: string, name: string) => {
    const t = type.replace(/__align__\s*\([^)]*\)/g, '').trim();
    return `${t}* const ${name} = (${t}*)emu::dyn_smem();`;
  });
  // every (static) __shared__ declaration registers its variables, so that cooperative mode can swap them per block
  out = out.replace(/(?<!extern\s+)__shared__[ \t]+((?:__align__\([^)]*\)[ \t]+)?(?:unsigned[ \t]+|signed[ \t]+)?\w+)[ \t]+([^;\n]+);/g, (m, _type: string, decls: string) => {
    const names = splitTop(decls, ',').map((d) => /^\s*(\w+)/.exec(d)?.[1]);
    if (names.some((n) => !n)) throw new Error(`${file}: cannot read the __shared__ declaration ${m}`);
    return `${m} ${names.map((n) => `EMU_SHARED(${n});`).join(' ')}`;
  });
  // #pragma once becomes an include guard: headers include each other (gemv1.cuh, topk.cuh include common.cuh)
  if (/^#pragma once\s*$/m.test(out)) {
    const guard = `EMU_GUARD_${file.replace(/\W/g, '_')}`;
    out = `#ifndef ${guard}\n#define ${guard}\n${out.replace(/^#pragma once\s*$/m, '')}\n#endif\n`;
    return `${out.split('\n').slice(0, 2).join('\n')}\n#line 1 "${path}"\n${out.split('\n').slice(2).join('\n')}`;
  }
  return `#line 1 "${path}"\n${out}`;
}

/** The translation unit for one .cu file: the prelude, the translated source (headers from `include/`), the table. */
export function translationUnit(file: string, source: string): string {
  const kernels = [...parseKernels(file, source)];
  const rows = kernels.map(([name]) => `  {"${name}", [](const unsigned char* a) { emu::call_packed(${name}, a); }},`);
  const checks = kernels.map(
    ([name, sig]) =>
      `static_assert(emu::offsets_match(${name}, {${sig.params.map((p) => p.offset).join(', ')}}), "${name}: parameter layout differs from parseKernels (launch.ts)");`,
  );
  return [
    `// generated by dev/kernels/emu/translate.ts from ${file}; do not edit`,
    '#include "cuda_emu.h"',
    `#include "include/${file}"`,
    '',
    ...checks,
    `const emu::Kernel emu_kernels[] = {\n${rows.join('\n')}\n  {"", nullptr}};`,
    `const int emu_kernel_count = ${kernels.length};`,
    '',
  ].join('\n');
}
