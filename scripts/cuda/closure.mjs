// Prints the node_modules folders that the given packages need (dependencies, optional and peer, recursively),
// relative to the repo root: what a GPU-machine run carries (see pack-device.sh).
// Usage: node scripts/cuda/closure.mjs ROOT PKG...
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
const root = process.argv[2]; const seeds = process.argv.slice(3);
const seen = new Set();
function resolve(from, name) { let d = from; for (;;) { const p = join(d, 'node_modules', name); if (existsSync(join(p, 'package.json'))) return p; const up = dirname(d); if (up === d) return null; d = up; } }
function visit(dir) { if (seen.has(dir)) return; seen.add(dir); const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of [...Object.keys(pj.dependencies ?? {}), ...Object.keys(pj.optionalDependencies ?? {}), ...Object.keys(pj.peerDependencies ?? {})]) { const r = resolve(dir, dep); if (r) visit(r); } }
for (const s of seeds) { const r = resolve(root, s); if (!r) { console.error('missing', s); continue; } visit(r); }
console.log([...seen].map(p => p.slice(root.length + 1)).sort().join('\n'));
