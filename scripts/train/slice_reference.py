#!/usr/bin/env python3
"""Cuts the training run's reference outputs down to the committed parity fixture of the demo model.

    python3 scripts/train/slice_reference.py RUN_DIR test/training/fixtures [--positions 64]

RUN_DIR holds reference-logits.safetensors (logits.k F32 [T, V], ids.k I32 [T]) and report.json, as written by
train.py. Writes demo-reference.safetensors (logits.k: the first N positions, F32) and demo-reference.json
(ids of those positions, the greedy continuations of the held-out prompts with their top-2 margins, provenance).
numpy only (the safetensors format is an 8-byte header length, a JSON header and raw little-endian data)."""
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "I32": np.int32, "BF16": None}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    run, dest = sys.argv[1], sys.argv[2]
    positions = int(sys.argv[sys.argv.index("--positions") + 1]) if "--positions" in sys.argv else 64
    t = read_safetensors(os.path.join(run, "reference-logits.safetensors"))
    with open(os.path.join(run, "report.json")) as f:
        report = json.load(f)
    os.makedirs(dest, exist_ok=True)
    keys = sorted(k.split(".")[1] for k in t if k.startswith("logits."))
    write_safetensors(os.path.join(dest, "demo-reference.safetensors"), {f"logits.{k}": t[f"logits.{k}"][:positions] for k in keys})
    meta = {
        "reference": f"transformers {report['transformers']} NemotronHForCausalLM.from_pretrained(models/default files), "
                     "float32, CPU, eager attention, every mixer's time_step_limit set to (0, inf)",
        "max_abs_loaded_minus_file": report["reference"]["max_abs_loaded_minus_file"],
        "ids": {k: [int(x) for x in t[f"ids.{k}"][:positions]] for k in keys},
        "greedy": report["reference"]["greedy"],
    }
    with open(os.path.join(dest, "demo-reference.json"), "w") as f:
        json.dump(meta, f)
    print(f"wrote {len(keys)} sequences x {positions} positions to {dest}")


if __name__ == "__main__":
    main()
