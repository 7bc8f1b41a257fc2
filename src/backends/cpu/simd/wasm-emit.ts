/**
 * A minimal WebAssembly binary writer: just enough (sections, LEB128, the scalar and f32x4 SIMD opcodes the
 * kernels use) to build the SIMD kernels at load time from TypeScript. Chosen over committed .wasm bytes or a
 * WAT compiler so that the kernels are readable source, need no build step and no npm dependency.
 */

/** Unsigned LEB128. */
export function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (i32 range). */
export function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string): number[] => {
  const b = [...new TextEncoder().encode(s)];
  return [...uleb(b.length), ...b];
};

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

/** Instruction bytes. Memory offsets are static byte offsets added to the i32 address on the stack. */
export const op = {
  block: (): number[] => [0x02, 0x40],
  loop: (): number[] => [0x03, 0x40],
  if_: (): number[] => [0x04, 0x40],
  else_: (): number[] => [0x05],
  end: (): number[] => [0x0b],
  br: (depth: number): number[] => [0x0c, ...uleb(depth)],
  brIf: (depth: number): number[] => [0x0d, ...uleb(depth)],
  get: (l: number): number[] => [0x20, ...uleb(l)],
  set: (l: number): number[] => [0x21, ...uleb(l)],
  tee: (l: number): number[] => [0x22, ...uleb(l)],
  i32: (v: number): number[] => [0x41, ...sleb(v)],
  f32: (v: number): number[] => {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return [0x43, ...b];
  },
  f32Load: (offset = 0): number[] => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0): number[] => [0x38, 2, ...uleb(offset)],
  i32Load: (offset = 0): number[] => [0x28, 2, ...uleb(offset)],
  i32Eqz: (): number[] => [0x45],
  i32LtU: (): number[] => [0x49],
  i32LtS: (): number[] => [0x48],
  i32GeU: (): number[] => [0x4f],
  i32Add: (): number[] => [0x6a],
  i32Sub: (): number[] => [0x6b],
  i32Mul: (): number[] => [0x6c],
  i32Shl: (): number[] => [0x74],
  f32Add: (): number[] => [0x92],
  f32Sub: (): number[] => [0x93],
  f32Mul: (): number[] => [0x94],
  f32Div: (): number[] => [0x95],
  f32Max: (): number[] => [0x97],
  // SIMD (0xfd prefix); memarg alignment 4 = 2^4 bytes (a hint only: unaligned access is legal)
  v128Load: (offset = 0): number[] => [0xfd, ...uleb(0), 4, ...uleb(offset)],
  v128Store: (offset = 0): number[] => [0xfd, ...uleb(11), 4, ...uleb(offset)],
  f32x4Splat: (): number[] => [0xfd, ...uleb(0x13)],
  f32x4Extract: (lane: number): number[] => [0xfd, ...uleb(0x1f), lane],
  f32x4Add: (): number[] => [0xfd, ...uleb(0xe4)],
  f32x4Sub: (): number[] => [0xfd, ...uleb(0xe5)],
  f32x4Mul: (): number[] => [0xfd, ...uleb(0xe6)],
  f32x4Max: (): number[] => [0xfd, ...uleb(0xe9)],
  f32x4Pmax: (): number[] => [0xfd, ...uleb(0xeb)],
  f32Sqrt: (): number[] => [0x91],
  i32x4Splat: (): number[] => [0xfd, ...uleb(0x11)],
  i32x4Shl: (): number[] => [0xfd, ...uleb(0xab)],
  v128And: (): number[] => [0xfd, ...uleb(0x4e)],
};

export interface FuncDef {
  name: string;
  params: ValType[];
  locals: ValType[]; // declared after the params: local index = params.length + i
  body: number[][]; // instruction byte groups (flattened), without the final `end`
}

/**
 * Module with one imported memory `env.mem` (shared when `shared`, so that views into it survive growth and
 * worker threads can use it) and the given exported functions (no results: kernels write to memory).
 */
export function buildModule(funcs: readonly FuncDef[], mem: { initial: number; maximum: number; shared: boolean }): Uint8Array {
  const types = funcs.map((f) => [0x60, ...vec(f.params.map((p) => [p])), ...uleb(0)]);
  const limits = mem.shared ? [0x03, ...uleb(mem.initial), ...uleb(mem.maximum)] : [0x01, ...uleb(mem.initial), ...uleb(mem.maximum)];
  const imports = vec([[...name('env'), ...name('mem'), 0x02, ...limits]]);
  const fnSec = vec(funcs.map((_, i) => uleb(i)));
  const exports = vec(funcs.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const codes = funcs.map((f) => {
    const locals = vec(f.locals.map((t) => [...uleb(1), t]));
    const body = [...locals, ...f.body.flat(), 0x0b];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, fnSec),
    ...section(7, exports),
    ...section(10, vec(codes)),
  ]);
}
