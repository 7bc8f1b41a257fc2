/** The float64 reference of moe_down1_res (kernels/moe_down1.cu), shared by its emulator and GPU checks. */

/** One token's inputs: the test layout stacks 8 experts' down rows of I values, row 8 e + o for expert e, output o. */
export interface MoeDown1Problem {
  H: number;
  I: number;
  S: number; // shared-expert chunks of I columns
  ids: ArrayLike<number>; // [K]
  wts: ArrayLike<number>; // [K]
  act: ArrayLike<number>; // [S I + K I]
  downS: ArrayLike<number>; // [H, S I]
  all: ArrayLike<number>; // the experts' down rows as above
  resid: ArrayLike<number>; // [H]
}

/** float64: resid[o] + (sum_k wts[k] down_{ids[k]}[o] . act_k + sum_c downS[o, chunk c] . act_c). */
export function moeDown1Reference(p: MoeDown1Problem, withResid: boolean): Float64Array {
  const { H, I, S, ids, wts, act, downS, all } = p;
  const K = ids.length;
  const Is = S * I;
  const out = new Float64Array(H);
  for (let o = 0; o < H; o++) {
    let routed = 0;
    for (let k = 0; k < K; k++) {
      const row = (8 * ids[k] + o) * I;
      let d = 0;
      for (let i = 0; i < I; i++) d += all[row + i] * act[Is + k * I + i];
      routed += wts[k] * d;
    }
    let shared = 0;
    for (let i = 0; i < Is; i++) shared += downS[o * Is + i] * act[i];
    out[o] = (withResid ? p.resid[o] : 0) + routed + shared;
  }
  return out;
}
