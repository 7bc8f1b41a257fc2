/** Positioned reads of an exact byte range, shared by the checkpoint readers (safetensors, GGUF). */
import { readSync } from 'node:fs';
import { CheckpointError } from './safetensors.js';

/** Reads `length` bytes at `position` of an open file; a short file is a CheckpointError naming `path`. */
export function readExact(fd: number | null, path: string, position: number, length: number): Uint8Array {
  if (fd === null) throw new CheckpointError(`${path}: file is closed`);
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new CheckpointError(`${path}: unexpected end of file at byte ${position + done} (truncated file)`);
    done += n;
  }
  return buf;
}
