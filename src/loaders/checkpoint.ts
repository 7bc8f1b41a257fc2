/**
 * A model directory's safetensors checkpoint: one file, several files, or shards listed by
 * `model.safetensors.index.json`. Shards are opened on first use; only headers are parsed up front
 * (never all tensor data), so finding one tensor of the 63 GB hub checkpoint costs one header read.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError, SafetensorsFile, type TensorInfo } from './safetensors.js';

const INDEX = 'model.safetensors.index.json';

/** Maps tensor names to the file that holds them. */
export class Checkpoint {
  private readonly files = new Map<string, SafetensorsFile>();
  private readonly where = new Map<string, string>(); // tensor name -> file name

  constructor(readonly dir: string) {
    const indexPath = join(dir, INDEX);
    if (existsSync(indexPath)) {
      let index: { weight_map?: Record<string, string> };
      try {
        index = JSON.parse(readFileSync(indexPath, 'utf8'));
      } catch (e) {
        throw new CheckpointError(`${indexPath}: not valid JSON (${(e as Error).message})`);
      }
      const map = index?.weight_map;
      if (!map || typeof map !== 'object') throw new CheckpointError(`${indexPath}: missing "weight_map"`);
      for (const [name, file] of Object.entries(map)) {
        if (typeof file !== 'string' || file.includes('/') || !file.endsWith('.safetensors')) {
          throw new CheckpointError(`${indexPath}: tensor "${name}" maps to a bad file name ${JSON.stringify(file)}`);
        }
        if (!existsSync(join(dir, file))) throw new CheckpointError(`${indexPath}: shard "${file}" (holding "${name}") is missing`);
        this.where.set(name, file);
      }
    } else {
      let names: string[];
      try {
        // model.safetensors, or model*.safetensors shards without an index; other .safetensors files in the
        // directory (LoRA adapters, golden data) are not weights of this model
        const all = readdirSync(dir);
        names = all.includes('model.safetensors') ? ['model.safetensors'] : all.filter((f) => /^model.*\.safetensors$/.test(f)).sort();
      } catch (e) {
        throw new CheckpointError(`${dir}: cannot list the model directory (${(e as Error).message})`);
      }
      if (names.length === 0) throw new CheckpointError(`${dir}: no model*.safetensors files and no ${INDEX}`);
      for (const file of names) {
        for (const name of this.open(file).tensors.keys()) {
          const prev = this.where.get(name);
          if (prev) throw new CheckpointError(`${dir}: tensor "${name}" is in both ${prev} and ${file}`);
          this.where.set(name, file);
        }
      }
    }
  }

  /** Every tensor name the checkpoint declares. */
  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  /** Dtype, shape and location of a tensor (opens its shard if needed). */
  info(name: string): TensorInfo & { file: string } {
    const file = this.where.get(name);
    if (!file) throw new CheckpointError(`${this.dir}: missing tensor "${name}"`);
    const info = this.open(file).tensors.get(name);
    if (!info) throw new CheckpointError(`${join(this.dir, file)}: the index lists tensor "${name}" but the file does not hold it`);
    return { ...info, file: join(this.dir, file) };
  }

  /** Raw bytes of a tensor or of a byte range inside it. */
  readBytes(name: string, skip = 0, byteLength?: number): Uint8Array {
    this.info(name);
    return this.open(this.where.get(name)!).readBytes(name, skip, byteLength);
  }

  private open(file: string): SafetensorsFile {
    let f = this.files.get(file);
    if (!f) {
      f = new SafetensorsFile(join(this.dir, file));
      this.files.set(file, f);
    }
    return f;
  }

  close(): void {
    for (const f of this.files.values()) f.close();
    this.files.clear();
  }
}
