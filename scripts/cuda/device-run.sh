#!/usr/bin/env bash
# One run on the GPU machine (repo root; $OUT comes back): environment report, `npm run test:cuda` (through the
# carried vitest), `nemotron bench --random-weights`, and the HF transformers side-by-side on the same device.
# Usage: bash scripts/cuda/device-run.sh [tests] [bench] [hf]   (default: all three; hf runs first when asked,
# so that its 63 GB are freed before nemotron-ts takes the GPU)
set -uo pipefail
OUT=${OUT:-/tmp/nemotron-out}
mkdir -p "$OUT"
steps=${*:-tests hf bench}
xz -dkf .device/node.xz && chmod +x .device/node && export PATH=$PWD/.device:$PATH
tar -xJf .device/nm.tar.xz
export NEMOTRON_CUDA_CACHE=/tmp/nemotron-nvrtc
{
  date -u; nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm --format=csv; node --version
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
  ls /usr/local/cuda/lib64 2>/dev/null | grep -E 'nvrtc|cublas' ; find / -name 'libnvrtc.so*' -not -path '/proc/*' 2>/dev/null | head -3
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
for s in $steps; do
  case $s in
    tests) timeout "${TEST_TIMEOUT:-300}" node node_modules/vitest/vitest.mjs run --config vitest.cuda.config.ts 2>&1 | tee "$OUT/test.txt" | grep -vE '^\s+✓' ;;
    hf) PYTHONUNBUFFERED=1 timeout "${HF_TIMEOUT:-200}" python3 scripts/cuda/hf_bench.py src/backends/cuda/nano-config.json "$OUT/hf.json" --budget "${HF_BUDGET:-100}" --batches "${HF_BATCHES:-1,8,64}" --prefill "${HF_PREFILL:-1024,8192}" > "$OUT/hf.txt" 2>&1; tail -5 "$OUT/hf.txt" ;;
    bench) timeout "${BENCH_TIMEOUT:-200}" node node_modules/tsx/dist/cli.mjs src/cli/main.ts bench --random-weights ${BENCH_ARGS:-} $( [ -f "$OUT/hf.json" ] && echo --hf "$OUT/hf.json" ) --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.txt" ;;
  esac
done
