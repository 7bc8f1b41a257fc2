/**
 * The WASM SIMD kernels, generated as bytecode at load time (see wasm-emit.ts). All pointers are byte addresses
 * into the shared linear memory; float32 row-major data; every row length and row count a kernel sees is padded
 * by the caller to the kernel's block size, so the loops have no tails.
 */
import { buildModule, F32, type FuncDef, I32, op, V128, type ValType } from './wasm-emit.js';

/** Local-variable allocator for one function: named params, then named locals. */
class Locals {
  readonly params: ValType[] = [];
  readonly locals: ValType[] = [];
  private readonly index = new Map<string, number>();
  constructor(params: Array<[string, ValType]>) {
    for (const [n, t] of params) {
      this.index.set(n, this.params.length);
      this.params.push(t);
    }
  }
  add(n: string, t: ValType): void {
    this.index.set(n, this.params.length + this.locals.length);
    this.locals.push(t);
  }
  i(n: string): number {
    const v = this.index.get(n);
    if (v === undefined) throw new Error(`kernel local ${n} undeclared`);
    return v;
  }
}

/** Horizontal sum of a v128 local -> f32 on the stack. */
function hsum(acc: number): number[][] {
  return [
    op.get(acc), op.f32x4Extract(0), op.get(acc), op.f32x4Extract(1), op.f32Add(),
    op.get(acc), op.f32x4Extract(2), op.get(acc), op.f32x4Extract(3), op.f32Add(), op.f32Add(),
  ];
}

/**
 * The end of a matmul kernel's row loop and weight-block loop (shared by the float32 and BF16 kernels): store the
 * rb x ob accumulators to y[r + b, o + a] at yr + (r + b) * mb + 4a, advance x rows, then the next weight block
 * (`wRowBytes` names the local holding a weight row's bytes).
 */
function matmulBlockEnd(L: Locals, ob: number, rb: number, wRowBytes: string): number[][] {
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const body: number[][] = [];
  for (let b = 0; b < rb; b++) {
    for (let a = 0; a < ob; a++) {
      body.push(g('yr'), g('r'), ...(b ? [op.i32(b), op.i32Add()] : []), g('mb'), op.i32Mul(), op.i32Add(), ...hsum(L.i(`acc${b * ob + a}`)), op.f32Store(4 * a));
    }
  }
  body.push(g('xr'), g('kb'), op.i32(rb), op.i32Mul(), op.i32Add(), s('xr'));
  body.push(g('r'), op.i32(rb), op.i32Add(), op.tee(L.i('r')), g('n'), op.i32LtU(), op.brIf(0), op.end()); // R
  body.push(g('yr'), op.i32(4 * ob), op.i32Add(), s('yr'));
  body.push(g('wo'), g(wRowBytes), op.i32(ob), op.i32Mul(), op.i32Add(), op.tee(L.i('wo')), g('wEnd'), op.i32LtU(), op.brIf(0), op.end()); // O
  return body;
}

/**
 * y[r, o] = sum_j x[r, j] * w[o, j] for a block of `ob` weight rows times `rb` x rows per inner pass.
 * Params (x, w, y, n, kb, mb, m): n rows of x (a multiple of rb), kb = row bytes of x and w (a multiple of 16),
 * mb = row bytes of y, m = outputs to compute (a multiple of ob) starting at w and y (a slice of the outputs when
 * several threads share one matmul). Loop order: weight block outer (stays in L1), x rows inner.
 */
function matmulKernel(nameStr: string, ob: number, rb: number): FuncDef {
  const L = new Locals([['x', I32], ['w', I32], ['y', I32], ['n', I32], ['kb', I32], ['mb', I32], ['m', I32]]);
  for (const v of ['wEnd', 'wo', 'r', 'j', 'xr', 'yr']) L.add(v, I32);
  for (let a = 0; a < ob; a++) L.add(`w${a}`, I32);
  for (let a = 0; a < ob * rb; a++) L.add(`acc${a}`, V128);
  for (let b = 0; b < rb; b++) L.add(`xv${b}`, V128);
  L.add('wv', V128);
  L.add('zero', V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const body: number[][] = [];
  // wEnd = w + m * kb (outputs computed by this call times row bytes; a call may do a slice of the outputs)
  body.push(op.f32(0), op.f32x4Splat(), s('zero'));
  body.push(g('w'), g('m'), g('kb'), op.i32Mul(), op.i32Add(), s('wEnd'));
  body.push(g('w'), s('wo'), g('y'), s('yr'));
  // yr: address of y[0, o] for the current weight block
  body.push(op.loop()); // O
  for (let a = 0; a < ob; a++) {
    body.push(g('wo'), ...(a ? [g('kb'), op.i32(a), op.i32Mul(), op.i32Add()] : []), s(`w${a}`));
  }
  body.push(op.i32(0), s('r'), g('x'), s('xr'));
  body.push(op.loop()); // R
  for (let a = 0; a < ob * rb; a++) body.push(g('zero'), s(`acc${a}`));
  body.push(op.i32(0), s('j'));
  body.push(op.loop()); // J
  for (let b = 0; b < rb; b++) body.push(g('xr'), g('j'), op.i32Add(), ...(b ? [g('kb'), op.i32(b), op.i32Mul(), op.i32Add()] : []), op.v128Load(), s(`xv${b}`));
  for (let a = 0; a < ob; a++) {
    body.push(g(`w${a}`), g('j'), op.i32Add(), op.v128Load(), s('wv'));
    for (let b = 0; b < rb; b++) {
      const acc = `acc${b * ob + a}`;
      body.push(g(acc), g('wv'), g(`xv${b}`), op.f32x4Mul(), op.f32x4Add(), s(acc));
    }
  }
  body.push(g('j'), op.i32(16), op.i32Add(), op.tee(L.i('j')), g('kb'), op.i32LtU(), op.brIf(0), op.end()); // J
  body.push(...matmulBlockEnd(L, ob, rb, 'kb'));
  return { name: nameStr, params: L.params, locals: L.locals, body };
}

/**
 * Mamba-2 selective scan of one sequence, vectorised over the state size n (a multiple of 4):
 * for each token t, head h, channel i: S[h,i,:] = a[t,h] S[h,i,:] + (dt[t,h] x[t,h,i]) B[t,g,:];
 * y[t,h,i] = S[h,i,:] . C[t,g,:] + D[h] x[t,h,i]. Params (x, coef, B, C, D, S, y, T, heads, p, nb, gb, perGroup):
 * coef [T, heads, 2] holds (dt, a) per token and head (computed on the host: softplus, clamp, exp);
 * nb = n * 4 bytes; gb = groups * n * 4 bytes (row of B and C); head h reads group h / perGroup.
 */
function scanKernel(): FuncDef {
  const L = new Locals([
    ['x', I32], ['coef', I32], ['B', I32], ['C', I32], ['D', I32], ['S', I32], ['y', I32],
    ['T', I32], ['heads', I32], ['p', I32], ['nb', I32], ['gb', I32], ['perGroup', I32],
  ]);
  for (const v of ['t', 'h', 'i', 'j', 'bg', 'cg', 'sp']) L.add(v, I32);
  for (const v of ['dt', 'xv', 'dh']) L.add(v, F32);
  for (const v of ['av', 'dxv', 'sv', 'acc', 'zero']) L.add(v, V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const b: number[][] = [];
  b.push(op.f32(0), op.f32x4Splat(), s('zero'));
  b.push(op.i32(0), s('t'), op.loop()); // tokens
  b.push(op.i32(0), s('h'), g('S'), s('sp'), op.loop()); // heads
  // bg = B + t * gb + (h / perGroup) * nb, cg likewise
  b.push(g('t'), g('gb'), op.i32Mul(), g('h'), g('perGroup'), [0x6e] /* i32.div_u */, g('nb'), op.i32Mul(), op.i32Add(), s('j'));
  b.push(g('B'), g('j'), op.i32Add(), s('bg'), g('C'), g('j'), op.i32Add(), s('cg'));
  b.push(g('coef'), op.f32Load(0), s('dt'), g('coef'), op.f32Load(4), op.f32x4Splat(), s('av'));
  b.push(g('D'), g('h'), op.i32(2), op.i32Shl(), op.i32Add(), op.f32Load(0), s('dh'));
  b.push(op.i32(0), s('i'), op.loop()); // channels of the head
  b.push(g('x'), op.f32Load(0), s('xv'), g('dt'), g('xv'), op.f32Mul(), op.f32x4Splat(), s('dxv'), g('zero'), s('acc'));
  b.push(op.i32(0), s('j'), op.loop()); // state, 4 at a time
  b.push(g('sp'), g('j'), op.i32Add());
  b.push(g('av'), g('sp'), g('j'), op.i32Add(), op.v128Load(), op.f32x4Mul());
  b.push(g('dxv'), g('bg'), g('j'), op.i32Add(), op.v128Load(), op.f32x4Mul(), op.f32x4Add(), op.tee(L.i('sv')), op.v128Store());
  b.push(g('acc'), g('sv'), g('cg'), g('j'), op.i32Add(), op.v128Load(), op.f32x4Mul(), op.f32x4Add(), s('acc'));
  b.push(g('j'), op.i32(16), op.i32Add(), op.tee(L.i('j')), g('nb'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('y'), ...hsum(L.i('acc')), g('dh'), g('xv'), op.f32Mul(), op.f32Add(), op.f32Store(0));
  b.push(g('x'), op.i32(4), op.i32Add(), s('x'), g('y'), op.i32(4), op.i32Add(), s('y'), g('sp'), g('nb'), op.i32Add(), s('sp'));
  b.push(g('i'), op.i32(1), op.i32Add(), op.tee(L.i('i')), g('p'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('coef'), op.i32(8), op.i32Add(), s('coef'));
  b.push(g('h'), op.i32(1), op.i32Add(), op.tee(L.i('h')), g('heads'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('t'), op.i32(1), op.i32Add(), op.tee(L.i('t')), g('T'), op.i32LtU(), op.brIf(0), op.end());
  return { name: 'scan', params: L.params, locals: L.locals, body: b };
}

/**
 * As matmulKernel, with BF16 weights (rows of kb / 2 bytes; half the memory traffic of float32, which bounds
 * decode) and x permuted in blocks of 8 as [x0 x2 x4 x6 x1 x3 x5 x7]: a v128 of 8 bf16 gives the even elements
 * as float32 by `i32x4.shl 16` and the odd ones by masking the high halves, with no lane shuffles.
 */
function matmulBf16Kernel(nameStr: string, ob: number, rb: number): FuncDef {
  const L = new Locals([['x', I32], ['w', I32], ['y', I32], ['n', I32], ['kb', I32], ['mb', I32], ['m', I32]]);
  for (const v of ['wEnd', 'wo', 'r', 'j', 'xr', 'yr', 'wkb']) L.add(v, I32);
  for (let a = 0; a < ob; a++) L.add(`w${a}`, I32);
  for (let a = 0; a < ob * rb; a++) L.add(`acc${a}`, V128);
  for (let b = 0; b < rb; b++) L.add(`xe${b}`, V128), L.add(`xo${b}`, V128);
  for (const v of ['wv', 'we', 'wo2', 'zero', 'mask']) L.add(v, V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const body: number[][] = [];
  body.push(op.f32(0), op.f32x4Splat(), s('zero'), op.i32(-65536), op.i32x4Splat(), s('mask'));
  body.push(g('kb'), op.i32(1), [0x76] /* i32.shr_u */, s('wkb')); // weight row bytes
  body.push(g('w'), g('m'), g('wkb'), op.i32Mul(), op.i32Add(), s('wEnd'));
  body.push(g('w'), s('wo'), g('y'), s('yr'));
  body.push(op.loop()); // O
  for (let a = 0; a < ob; a++) body.push(g('wo'), ...(a ? [g('wkb'), op.i32(a), op.i32Mul(), op.i32Add()] : []), s(`w${a}`));
  body.push(op.i32(0), s('r'), g('x'), s('xr'));
  body.push(op.loop()); // R
  for (let a = 0; a < ob * rb; a++) body.push(g('zero'), s(`acc${a}`));
  body.push(op.i32(0), s('j')); // j: byte offset in a weight row (16 per 8 elements); x offset is 2j
  body.push(op.loop()); // J
  for (let b = 0; b < rb; b++) {
    const xa = [g('xr'), g('j'), op.i32(1), op.i32Shl(), op.i32Add(), ...(b ? [g('kb'), op.i32(b), op.i32Mul(), op.i32Add()] : [])];
    body.push(...xa, op.v128Load(0), s(`xe${b}`), ...xa, op.v128Load(16), s(`xo${b}`));
  }
  for (let a = 0; a < ob; a++) {
    body.push(g(`w${a}`), g('j'), op.i32Add(), op.v128Load(), op.tee(L.i('wv')), op.i32(16), op.i32x4Shl(), s('we'));
    body.push(g('wv'), g('mask'), op.v128And(), s('wo2'));
    for (let b = 0; b < rb; b++) {
      const acc = `acc${b * ob + a}`;
      body.push(g(acc), g('we'), g(`xe${b}`), op.f32x4Mul(), op.f32x4Add(), g('wo2'), g(`xo${b}`), op.f32x4Mul(), op.f32x4Add(), s(acc));
    }
  }
  body.push(g('j'), op.i32(16), op.i32Add(), op.tee(L.i('j')), g('wkb'), op.i32LtU(), op.brIf(0), op.end()); // J
  body.push(...matmulBlockEnd(L, ob, rb, 'wkb'));
  return { name: nameStr, params: L.params, locals: L.locals, body };
}

/**
 * Attention scores of a chunk of T query tokens: s[i, h, j] = scale * q[i, h, :] . k[j, h / perKv, :] for the
 * visible keys j < past + i + 1. Params (q, k, s, T, past, heads, hdb, kvwb, perKv, lsb, scale): hdb = head
 * bytes (a multiple of 16), kvwb = key row bytes, lsb = score row bytes (one row per (i, h)).
 */
function attnScoresKernel(): FuncDef {
  const L = new Locals([
    ['q', I32], ['k', I32], ['s', I32], ['T', I32], ['past', I32], ['heads', I32], ['hdb', I32], ['kvwb', I32], ['perKv', I32],
    ['lsb', I32], ['scale', F32],
  ]);
  for (const v of ['i', 'h', 'j', 'e', 'vis', 'kp', 'sp']) L.add(v, I32);
  for (const v of ['acc', 'zero']) L.add(v, V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const b: number[][] = [];
  b.push(op.f32(0), op.f32x4Splat(), s('zero'));
  b.push(op.i32(0), s('i'), op.loop()); // tokens
  b.push(g('past'), g('i'), op.i32Add(), op.i32(1), op.i32Add(), s('vis'));
  b.push(op.i32(0), s('h'), op.loop()); // heads
  b.push(g('k'), g('h'), g('perKv'), [0x6e], g('hdb'), op.i32Mul(), op.i32Add(), s('kp'));
  b.push(g('s'), s('sp'), op.i32(0), s('j'), op.loop()); // keys
  b.push(g('zero'), s('acc'), op.i32(0), s('e'), op.loop());
  b.push(g('acc'), g('q'), g('e'), op.i32Add(), op.v128Load(), g('kp'), g('e'), op.i32Add(), op.v128Load(), op.f32x4Mul(), op.f32x4Add(), s('acc'));
  b.push(g('e'), op.i32(16), op.i32Add(), op.tee(L.i('e')), g('hdb'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('sp'), ...hsum(L.i('acc')), g('scale'), op.f32Mul(), op.f32Store(0));
  b.push(g('sp'), op.i32(4), op.i32Add(), s('sp'), g('kp'), g('kvwb'), op.i32Add(), s('kp'));
  b.push(g('j'), op.i32(1), op.i32Add(), op.tee(L.i('j')), g('vis'), op.i32LtU(), op.brIf(0), op.end()); // keys
  b.push(g('q'), g('hdb'), op.i32Add(), s('q'), g('s'), g('lsb'), op.i32Add(), s('s'));
  b.push(g('h'), op.i32(1), op.i32Add(), op.tee(L.i('h')), g('heads'), op.i32LtU(), op.brIf(0), op.end()); // heads
  b.push(g('i'), op.i32(1), op.i32Add(), op.tee(L.i('i')), g('T'), op.i32LtU(), op.brIf(0), op.end()); // tokens
  return { name: 'attnScores', params: L.params, locals: L.locals, body: b };
}

/**
 * Attention output of the same chunk from normalised probabilities p (laid out as the scores):
 * o[i, h, :] = sum_j p[i, h, j] v[j, h / perKv, :]. Params (p, v, o, T, past, heads, hdb, kvwb, perKv, lsb).
 */
function attnOutKernel(): FuncDef {
  const L = new Locals([
    ['p', I32], ['v', I32], ['o', I32], ['T', I32], ['past', I32], ['heads', I32], ['hdb', I32], ['kvwb', I32], ['perKv', I32], ['lsb', I32],
  ]);
  for (const v of ['i', 'h', 'j', 'e', 'vis', 'vp', 'pp']) L.add(v, I32);
  for (const v of ['pj', 'zero']) L.add(v, V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const b: number[][] = [];
  b.push(op.f32(0), op.f32x4Splat(), s('zero'));
  b.push(op.i32(0), s('i'), op.loop()); // tokens
  b.push(g('past'), g('i'), op.i32Add(), op.i32(1), op.i32Add(), s('vis'));
  b.push(op.i32(0), s('h'), op.loop()); // heads
  b.push(op.i32(0), s('e'), op.loop(), g('o'), g('e'), op.i32Add(), g('zero'), op.v128Store());
  b.push(g('e'), op.i32(16), op.i32Add(), op.tee(L.i('e')), g('hdb'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('v'), g('h'), g('perKv'), [0x6e], g('hdb'), op.i32Mul(), op.i32Add(), s('vp'));
  b.push(g('p'), s('pp'), op.i32(0), s('j'), op.loop()); // keys
  b.push(g('pp'), op.f32Load(0), op.f32x4Splat(), s('pj'));
  b.push(op.i32(0), s('e'), op.loop());
  b.push(g('o'), g('e'), op.i32Add(), g('o'), g('e'), op.i32Add(), op.v128Load(), g('pj'), g('vp'), g('e'), op.i32Add(), op.v128Load(), op.f32x4Mul(), op.f32x4Add(), op.v128Store());
  b.push(g('e'), op.i32(16), op.i32Add(), op.tee(L.i('e')), g('hdb'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('pp'), op.i32(4), op.i32Add(), s('pp'), g('vp'), g('kvwb'), op.i32Add(), s('vp'));
  b.push(g('j'), op.i32(1), op.i32Add(), op.tee(L.i('j')), g('vis'), op.i32LtU(), op.brIf(0), op.end()); // keys
  b.push(g('o'), g('hdb'), op.i32Add(), s('o'), g('p'), g('lsb'), op.i32Add(), s('p'));
  b.push(g('h'), op.i32(1), op.i32Add(), op.tee(L.i('h')), g('heads'), op.i32LtU(), op.brIf(0), op.end()); // heads
  b.push(g('i'), op.i32(1), op.i32Add(), op.tee(L.i('i')), g('T'), op.i32LtU(), op.brIf(0), op.end()); // tokens
  return { name: 'attnOut', params: L.params, locals: L.locals, body: b };
}

/** Elementwise over nb bytes (a multiple of 16): vadd out = a + b; vrelu2 out = max(a, 0)^2 (NaN -> 0 as the reference). */
function elementwiseKernel(nameStr: string): FuncDef {
  const L = new Locals([['a', I32], ['b', I32], ['out', I32], ['nb', I32]]);
  L.add('j', I32);
  L.add('v', V128);
  L.add('zero', V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const b: number[][] = [op.f32(0), op.f32x4Splat(), s('zero'), g('nb'), op.i32Eqz(), op.if_(), [0x0f] /* return */, op.end()];
  b.push(op.i32(0), s('j'), op.loop(), g('out'), g('j'), op.i32Add());
  if (nameStr === 'vadd') b.push(g('a'), g('j'), op.i32Add(), op.v128Load(), g('b'), g('j'), op.i32Add(), op.v128Load(), op.f32x4Add());
  else b.push(g('zero'), g('a'), g('j'), op.i32Add(), op.v128Load(), op.f32x4Pmax(), op.tee(L.i('v')), g('v'), op.f32x4Mul());
  b.push(op.v128Store(), g('j'), op.i32(16), op.i32Add(), op.tee(L.i('j')), g('nb'), op.i32LtU(), op.brIf(0), op.end());
  return { name: nameStr, params: L.params, locals: L.locals, body: b };
}

/**
 * RMSNorm of `rows` rows of hb bytes (a multiple of 16): out = w * (x / sqrt(mean(x^2) + eps)); invH = 1 / H.
 */
function rmsNormKernel(): FuncDef {
  const L = new Locals([['x', I32], ['w', I32], ['out', I32], ['rows', I32], ['hb', I32], ['eps', F32], ['invH', F32]]);
  for (const v of ['r', 'j']) L.add(v, I32);
  for (const v of ['acc', 'xv', 'sc', 'zero']) L.add(v, V128);
  const g = (n: string) => op.get(L.i(n));
  const s = (n: string) => op.set(L.i(n));
  const b: number[][] = [op.f32(0), op.f32x4Splat(), s('zero')];
  b.push(op.i32(0), s('r'), op.loop());
  b.push(g('zero'), s('acc'), op.i32(0), s('j'), op.loop());
  b.push(g('x'), g('j'), op.i32Add(), op.v128Load(), op.tee(L.i('xv')), g('xv'), op.f32x4Mul(), g('acc'), op.f32x4Add(), s('acc'));
  b.push(g('j'), op.i32(16), op.i32Add(), op.tee(L.i('j')), g('hb'), op.i32LtU(), op.brIf(0), op.end());
  b.push(op.f32(1), ...hsum(L.i('acc')), g('invH'), op.f32Mul(), g('eps'), op.f32Add(), op.f32Sqrt(), op.f32Div(), op.f32x4Splat(), s('sc'));
  b.push(op.i32(0), s('j'), op.loop());
  b.push(g('out'), g('j'), op.i32Add(), g('w'), g('j'), op.i32Add(), op.v128Load(), g('x'), g('j'), op.i32Add(), op.v128Load(), g('sc'), op.f32x4Mul(), op.f32x4Mul(), op.v128Store());
  b.push(g('j'), op.i32(16), op.i32Add(), op.tee(L.i('j')), g('hb'), op.i32LtU(), op.brIf(0), op.end());
  b.push(g('x'), g('hb'), op.i32Add(), s('x'), g('out'), g('hb'), op.i32Add(), s('out'));
  b.push(g('r'), op.i32(1), op.i32Add(), op.tee(L.i('r')), g('rows'), op.i32LtU(), op.brIf(0), op.end());
  return { name: 'rmsNorm', params: L.params, locals: L.locals, body: b };
}

/** Names of the exported kernels and their block sizes (outputs per pass, rows per pass). */
// Measured on a 2-core EPYC (Node 20): 4 outputs x 1 row is the fastest block for every shape, decode and prefill
// (~33 GFLOP/s BF16); blocks of 2-4 rows or 8 outputs spill registers in V8 and run 10-20 % slower.
export const MATMUL_KERNELS = { mm4x1: [4, 1] } as const;
export const MATMUL_BF16_KERNELS = { mmb4x1: [4, 1] } as const;

/** The module bytes for a shared memory of `maximum` 64 KiB pages. */
export function kernelModule(maximum: number): Uint8Array {
  const funcs = [...Object.entries(MATMUL_KERNELS).map(([n, [ob, rb]]) => matmulKernel(n, ob, rb)),
    ...Object.entries(MATMUL_BF16_KERNELS).map(([n, [ob, rb]]) => matmulBf16Kernel(n, ob, rb)), scanKernel(),
    attnScoresKernel(), attnOutKernel(), elementwiseKernel('vadd'), elementwiseKernel('vrelu2'), rmsNormKernel()];
  return buildModule(funcs, { initial: 1, maximum, shared: true });
}

