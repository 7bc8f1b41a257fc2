#!/usr/bin/env bash
# Nsight Compute over one eager batch-1 decode step (bench/cuda-step-kernels.ts) on the GPU machine: each kernel's
# time and DRAM bytes, isolated (ncu serialises kernels), clocks and caches as they are. Writes $OUT/ncu.csv.
# Usage (repo root, node on PATH): OUT=dir [NEMOTRON_CUDA_...=...] bash scripts/cuda/ncu-step.sh
OUT=${OUT:-/tmp/nemotron-out}
mkdir -p "$OUT"
timeout "${NCU_TIMEOUT:-240}" /usr/local/cuda/bin/ncu --profile-from-start off --clock-control none --cache-control none \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum --csv \
  node node_modules/tsx/dist/cli.mjs bench/cuda-step-kernels.ts > "$OUT/ncu.csv" 2> "$OUT/ncu.err"
echo "ncu rc=$? $(wc -l < "$OUT/ncu.csv") lines in $OUT/ncu.csv"
