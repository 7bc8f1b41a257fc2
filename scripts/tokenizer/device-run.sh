#!/usr/bin/env bash
# Regenerates the tokenizer goldens and the Python benchmark numbers on a machine that has the Python
# `tokenizers` library (the project's GPU machine). Everything it writes goes to $OUT:
#   OUT=/some/dir bash scripts/tokenizer/device-run.sh
# then copy $OUT/nemotron-tekken-32k/tokenizer.json and $OUT/training-meta.json to
# test/fixtures/tokenizers/nemotron-tekken-32k/, and $OUT/golden-*.json to test/fixtures/tokenizers/goldens/.
# When tmp/devbench/tokenizer-encode.mjs exists (an esbuild bundle of bench/tokenizer-encode.ts) and the machine
# has node, the TypeScript benchmark runs there too, so both numbers come from the same CPU.
set -uo pipefail
export PYTHONUNBUFFERED=1
: "${OUT:?set OUT to an output directory}"
FIX=test/fixtures/tokenizers
start=$SECONDS
{
  echo "== machine"
  nproc
  grep -m1 'model name' /proc/cpuinfo
  python3 --version
  echo "== goldens"
  timeout 130 python3 scripts/tokenizer/make_goldens.py --out "$OUT"
  echo "== python bench ($((SECONDS - start)) s elapsed)"
  timeout 80 python3 scripts/tokenizer/bench_encode.py --runs 2 --json "$OUT/bench-python.json" \
    --tokenizer "$OUT/nemotron-tekken-32k/tokenizer.json" --tokenizer $FIX/qwen3/tokenizer.json \
    --tokenizer $FIX/gpt35-cl100k/tokenizer.json
  echo "== node bench ($((SECONDS - start)) s elapsed)"
  if command -v node >/dev/null && [ -f tmp/devbench/tokenizer-encode.mjs ]; then
    node --version
    cp "$FIX/nemotron-tekken-32k/tokenizer_config.json" "$OUT/nemotron-tekken-32k/" 2>/dev/null
    timeout 45 node tmp/devbench/tokenizer-encode.mjs --runs 2 --json "$OUT/bench-node.json" \
      --tokenizer "$OUT/nemotron-tekken-32k" --tokenizer $FIX/qwen3 --tokenizer $FIX/gpt35-cl100k
  else
    echo "node or bundle not available: TypeScript side not measured here"
  fi
  if (( SECONDS - start < 170 )); then
    echo "== determinism: train again ($((SECONDS - start)) s elapsed)"
    timeout $((220 - (SECONDS - start))) python3 scripts/tokenizer/make_goldens.py --out /tmp/tok-again --train-only
  else
    echo "== determinism check skipped (time)"
  fi
  echo "== end ($((SECONDS - start)) s)"
} 2>&1 | tee "$OUT/log.txt"
