/**
 * Where a replayed batch-1 decode step spends its time: the real Nano shape (random weights), pipelined graph
 * replays as `nemotron bench` runs them, every kernel compiled with the device-side trace (src/backends/cuda/
 * trace.ts). Prints, per kernel name, the launches per step, their own time (first warp start to last warp end)
 * and the time each moved the step's end forward ("critical": sums to the step), when the median warp returned from
 * pdl_wait against the previous launch's end, and the launch's end after that; and writes every launch's span
 * of the last traced step to a CSV. Tracing adds an atomic and two timer reads per warp, so the traced step is a
 * little slower than an untraced one (both printed). Not a test; numbers go to BENCHMARKS.md.
 * Usage (GPU machine): npx tsx bench/cuda-step-trace.ts [steps] [out.csv]
 */
import { writeFileSync } from 'node:fs';
import { CudaBackend } from '../src/backends/cuda/backend.js';
import { DecodeGraphs } from '../src/backends/cuda/graph.js';
import { randomModel } from '../src/backends/cuda/random-weights.js';
import { attribute, type LaunchSpan } from '../src/backends/cuda/trace.js';

process.env.NEMOTRON_CUDA_TRACE = '1';
process.env.NEMOTRON_CUDA_GRAPH_STEPS ??= '1'; // the attribution below takes one graph per step (eager step, capture, replays)
const steps = Number(process.argv[2] ?? 4);
const csv = process.argv[3];

const b = new CudaBackend();
const { model } = randomModel(b);
b.kernels.loadAll();
const trace = b.kernels.trace!;
const graphs = new DecodeGraphs(b);
graphs.timeGpu = true;
const state = model.newState();
model.forward([{ tokens: [1, 2, 3, 4, 5, 6, 7, 8], state }]);
b.dev.sync();
const fwd = () => model.forward([{ tokens: [0], state }]) as never;
trace.log = [];
let toks = graphs.decodeGreedy('trace', Int32Array.of(9), 3, fwd).at(-1)!; // eager, capture, first replay
const half = trace.log.length / 2;
const step = trace.log.slice(half);
if (!Number.isInteger(half) || step.some((l, i) => l.name !== trace.log[i].name)) throw new Error('the eager step and the capture launched different kernels');
toks = graphs.decodeGreedy('trace', toks, 16, fwd).at(-1)!; // warm replays
b.dev.sync();
trace.reset();
const r0 = graphs.stats.replayed;
const g0 = { ms: graphs.stats.gpuMs, n: graphs.stats.timedReplays };
graphs.decodeGreedy('trace', toks, steps, fwd);
b.dev.sync();
const replays = graphs.stats.replayed - r0;
const gpuMs = (graphs.stats.gpuMs - g0.ms) / (graphs.stats.timedReplays - g0.n);
// TRACE_WARPS=name[,name]: every warp record of those kernels in the last traced step to <out.csv>.warps.csv
const keepNames = new Set((process.env.TRACE_WARPS ?? '').split(',').filter(Boolean));
const spans = trace.spans(Array.from({ length: replays }, () => step).flat(), (n) => keepNames.has(n));
const perStep: LaunchSpan[][] = Array.from({ length: replays }, (_, s) => spans.slice(s * step.length, (s + 1) * step.length));

const us = (ns: number) => (ns / 1000).toFixed(1);
const lines = [
  `${b.dev.info.name}: ${replays} traced batch-1 decode steps, ${step.length} launches each; GPU time per step (events) ${gpuMs.toFixed(3)} ms`,
  `traced step lengths (first start to last end): ${perStep.map((p) => us(p.at(-1)!.end - p[0].start)).join(', ')} us`,
  `records whose grid shape did not match their launch: ${spans.reduce((a, s) => a + s.mismatched, 0)}`,
  '',
  '| kernel | launches per step | own us per step | critical us per step | wait return - previous end, us per launch | end - wait return, us per launch |',
  '|---|---|---|---|---|---|',
];
// the steps after the first (which starts from an idle GPU), summed per name and averaged
const later = perStep.length > 1 ? perStep.slice(1) : perStep;
const rows = new Map<string, { launches: number; own: number; critical: number; resolve: number; post: number; waited: number }>();
for (const p of later) {
  const base = p[0].start;
  // the median warp's return from pdl_wait against the end of the launch before, and the launch's end after it
  p.forEach((sp, i) => {
    if (!i || Number.isNaN(sp.waitMedian)) return;
    const r = rows.get(sp.name) ?? { launches: 0, own: 0, critical: 0, resolve: 0, post: 0, waited: 0 };
    r.resolve += sp.waitMedian - p[i - 1].end;
    r.post += sp.end - sp.waitMedian;
    r.waited++;
    rows.set(sp.name, r);
  });
  for (const a of attribute(p.map((s) => ({ ...s, start: s.start - base, end: s.end - base })))) {
    const r = rows.get(a.name) ?? { launches: 0, own: 0, critical: 0, resolve: 0, post: 0, waited: 0 };
    r.launches += a.launches;
    r.own += a.own;
    r.critical += a.critical;
    rows.set(a.name, r);
  }
}
let total = 0;
for (const [name, r] of [...rows].sort((x, y) => y[1].critical - x[1].critical)) {
  total += r.critical;
  const w = (v: number) => (r.waited ? us(v / r.waited) : '');
  lines.push(`| ${name} | ${r.launches / later.length} | ${us(r.own / later.length)} | ${us(r.critical / later.length)} | ${w(r.resolve)} | ${w(r.post)} |`);
}
lines.push(`| (sum) | ${step.length} | | ${us(total / later.length)} |`);
// TRACE_MARK points inside the kernels (common.cuh): each mark's median and last warp against the median wait return
const marks = new Map<string, { n: number[]; med: number[]; last: number[] }>();
for (const p of later) {
  for (const sp of p) {
    if (Number.isNaN(sp.waitMedian)) continue;
    const m = marks.get(sp.name) ?? { n: [0, 0, 0], med: [0, 0, 0], last: [0, 0, 0] };
    sp.markMedian.forEach((v, k) => {
      if (Number.isNaN(v)) return;
      m.n[k]++;
      m.med[k] += v - sp.waitMedian;
      m.last[k] += sp.markLast[k] - sp.waitMedian;
    });
    marks.set(sp.name, m);
  }
}
lines.push('', '| kernel | mark 0 median / last, us after the wait return | mark 1 | mark 2 |', '|---|---|---|---|');
for (const [name, m] of marks) {
  if (!m.n.some((x) => x)) continue;
  const cell = (k: number) => (m.n[k] ? `${us(m.med[k] / m.n[k])} / ${us(m.last[k] / m.n[k])}` : '');
  lines.push(`| ${name} | ${cell(0)} | ${cell(1)} | ${cell(2)} |`);
}
console.log(lines.join('\n'));
if (csv) {
  const last = perStep.at(-1)!;
  const base = last[0].start;
  const t = (v: number) => (Number.isNaN(v) ? '' : String(v - base));
  const rows = last.flatMap((s, i) => (s.warpRecords ?? []).map((w) => [i, s.name, w.sm, w.block, ...[w.start, w.wait, ...w.marks, w.end].map(t)].join(',')));
  if (rows.length) writeFileSync(`${csv}.warps.csv`, ['i,kernel,sm,block,start_ns,wait_ns,mark0_ns,mark1_ns,mark2_ns,end_ns', ...rows].join('\n') + '\n');
  writeFileSync(csv, ['i,kernel,blocks,threads,start_ns,end_ns,mismatched,wait_median_ns,wait_last_ns,end_median_ns', ...last.map((s, i) => `${i},${s.name},${s.blocks},${s.threads},${s.start - base},${s.end - base},${s.mismatched},${t(s.waitMedian)},${t(s.waitLast)},${t(s.endMedian)}`)].join('\n') + '\n');
}
model.freeState(state);
graphs.clear();
