#!/usr/bin/env bash
# Compiles every CUDA kernel family with the local nvcc for sm_90 (no GPU needed) and prints ptxas's resource
# report (registers, shared memory, stack, spills): catches syntax errors and register spills before a GPU run.
# NVRTC compiles the same sources at run time; they include nothing but common.cuh.
set -euo pipefail
dir="$(dirname "$0")/../../src/backends/cuda/kernels"
for f in "$dir"/*.cu; do
  echo "== $(basename "$f")"
  nvcc -arch=sm_90 -std=c++17 -c "$f" -o /dev/null -Xptxas -v 2>&1 | grep -E "error|warning|Compiling entry|registers|spill" | sed -E 's/ptxas info\s+: //'
done
