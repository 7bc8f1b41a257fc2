import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { Checkpoint } from '../../src/loaders/checkpoint.js';
import { loadModel, loadModelAsync } from '../../src/loaders/load-model.js';
import { CheckpointError, SafetensorsFile } from '../../src/loaders/safetensors.js';
import { fixtureDir } from '../helpers/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'nemotron-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** A scratch copy of a fixture to corrupt. */
const copyOf = (name: string) => {
  const dir = join(tmp, `${name}-${n++}`);
  cpSync(fixtureDir(name), dir, { recursive: true });
  return dir;
};
const load = (dir: string) => loadModel(dir, new CpuRefBackend());

/** Writes a safetensors file from a header object and a data size. */
function writeSafetensors(path: string, header: unknown, dataBytes: number) {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

describe('loadModelAsync', () => {
  it('loads the same weights as loadModel while letting timers run', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const a = await loadModelAsync(fixtureDir('hub-sharded'), new CpuRefBackend(), { sliceMs: 0 });
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    const b = load(fixtureDir('hub-sharded'));
    const tokens = [20, 30, 40];
    const la = a.model.ops.toFloat32(a.model.forward([{ tokens, state: a.model.newState() }]));
    const lb = b.model.ops.toFloat32(b.model.forward([{ tokens, state: b.model.newState() }]));
    expect(Array.from(la)).toEqual(Array.from(lb));
  });
});

describe('safetensors reader', () => {
  it('reads dtypes from each header: BF16 weights with F32 A_log, D and router bias (hub layout)', () => {
    const ck = new Checkpoint(fixtureDir('hub-sharded'));
    expect(ck.info('backbone.layers.0.mixer.in_proj.weight').dtype).toBe('BF16');
    expect(ck.info('backbone.layers.0.mixer.A_log').dtype).toBe('F32');
    expect(ck.info('backbone.layers.0.mixer.D').dtype).toBe('F32');
    expect(ck.info('backbone.layers.1.mixer.gate.e_score_correction_bias').dtype).toBe('F32');
    expect(ck.info('backbone.layers.1.mixer.experts.7.up_proj.weight').shape).toEqual([32, 64]);
    expect(new Checkpoint(fixtureDir('legacy-f16')).info('lm_head.weight').dtype).toBe('F16');
    ck.close();
  });

  it('opens only the shard that holds a requested tensor', () => {
    const ck = new Checkpoint(fixtureDir('hub-sharded'));
    const opened = () => (ck as unknown as { files: Map<string, unknown> }).files.size;
    expect(opened()).toBe(0);
    ck.info('lm_head.weight');
    expect(opened()).toBe(1);
    ck.close();
  });

  it('truncated file -> error naming the file and the tensor', () => {
    const dir = copyOf('legacy-f16');
    const f = join(dir, 'model.safetensors');
    truncateSync(f, readFileSync(f).length - 100);
    expect(() => load(dir)).toThrow(CheckpointError);
    expect(() => load(dir)).toThrow(/model\.safetensors: tensor ".*": data ends at byte \d+ but the file has \d+ bytes \(truncated file\)/);
  });

  it('file shorter than the header length field', () => {
    const dir = copyOf('legacy-f16');
    writeFileSync(join(dir, 'model.safetensors'), Buffer.from([1, 2, 3]));
    expect(() => load(dir)).toThrow(/model\.safetensors: truncated file/);
  });

  it('header length beyond the file', () => {
    const f = join(tmp, 'badlen.safetensors');
    const b = Buffer.alloc(64);
    b.writeBigUInt64LE(10_000n);
    writeFileSync(f, b);
    expect(() => new SafetensorsFile(f)).toThrow(/badlen\.safetensors: bad header length 10000/);
  });

  it('header that is not JSON', () => {
    const f = join(tmp, 'badjson.safetensors');
    const h = Buffer.from('{"a": [1, 2');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(f, Buffer.concat([len, h]));
    expect(() => new SafetensorsFile(f)).toThrow(/badjson\.safetensors: header is not valid JSON/);
  });

  it('unsupported dtype, bad offsets and shape/size mismatch name the tensor', () => {
    const f = join(tmp, 'bad.safetensors');
    writeSafetensors(f, { w: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, 16);
    expect(() => new SafetensorsFile(f)).toThrow(/tensor "w": unsupported dtype I64/);
    writeSafetensors(f, { w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 8] } }, 16);
    expect(() => new SafetensorsFile(f)).toThrow(/tensor "w": data_offsets span 8 bytes but shape \[2,2\] x F32 needs 16/);
    writeSafetensors(f, { w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, 16);
    expect(() => new SafetensorsFile(f)).toThrow(/tensor "w": bad data_offsets/);
  });

  it('missing tensor -> error naming it', () => {
    const dir = copyOf('hub-sharded');
    const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    delete idx.weight_map['backbone.layers.3.mixer.k_proj.weight'];
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(idx));
    expect(() => load(dir)).toThrow(/missing tensor layers\.3\.mixer\.k_proj\.weight/);
  });

  it('index lists a tensor the shard does not hold', () => {
    const dir = copyOf('hub-sharded');
    const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    idx.weight_map['lm_head.weight'] = 'model-00001-of-00003.safetensors';
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(idx));
    expect(() => load(dir)).toThrow(/model-00001-of-00003\.safetensors: the index lists tensor "lm_head\.weight" but the file does not hold it/);
  });

  it('missing shard file', () => {
    const dir = copyOf('hub-sharded');
    rmSync(join(dir, 'model-00002-of-00003.safetensors'));
    expect(() => load(dir)).toThrow(/shard "model-00002-of-00003\.safetensors" .* is missing/);
  });

  it('wrong shape -> error naming file, tensor and expected shape', () => {
    const dir = copyOf('legacy-f16');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8').replace('{"__float__": "Infinity"}', '1e9'));
    cfg.moe_intermediate_size = 25;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    expect(() => load(dir)).toThrow(/model\.safetensors: tensor "backbone\.layers\.3\.mixer\.experts\.0\.up_proj\.weight" has shape \[24,48\], expected \[25,48\]/);
  });

  it('wrong shape in a fused expert tensor names the slice', () => {
    const dir = copyOf('hf5-fused');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    cfg.moe_intermediate_size = 31;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    expect(() => load(dir)).toThrow(/slice 0 of tensor "model\.layers\.1\.mixer\.experts\.up_proj" has shape \[32,64\], expected \[31,64\]/);
  });

  it('a directory without weights', () => {
    const dir = join(tmp, 'empty');
    cpSync(join(fixtureDir('legacy-f16'), 'config.json'), join(dir, 'config.json'));
    expect(() => load(dir)).toThrow(/no model\*\.safetensors files/);
  });

  it('reports tensors it does not use instead of ignoring them silently', () => {
    const dir = copyOf('hub-sharded');
    writeSafetensors(join(dir, 'model-extra.safetensors'), { 'backbone.layers.0.mixer.mystery': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);
    const idx = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
    idx.weight_map['backbone.layers.0.mixer.mystery'] = 'model-extra.safetensors';
    idx.weight_map['mtp.layers.0.norm.weight'] = 'model-extra.safetensors'; // known and ignored, like HF
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify(idx));
    expect(load(dir).unusedTensors).toEqual(['backbone.layers.0.mixer.mystery']);
  });

  it('a single-file model ignores other .safetensors files in its directory (adapters, goldens)', () => {
    const dir = copyOf('legacy-f16');
    writeSafetensors(join(dir, 'adapter_model.safetensors'), { 'x.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 4);
    expect(new Checkpoint(dir).names()).not.toContain('x.weight');
    expect(new Checkpoint(dir).names()).not.toContain('logits.long');
  });
});
