#!/usr/bin/env bash
# Same-CPU comparison of our encoder and the Python `tokenizers` library on the GPU machine, which has Python
# but no Node. Before calling it, build on the development machine (x86-64 too):
#   npx esbuild bench/tokenizer-encode.ts --bundle --platform=node --format=esm --outfile=tmp/devbench/tokenizer-encode.mjs
#   cp scripts/tokenizer/mixed-text-pools.json tmp/devbench/ && xz -T2 -6 -c "$(readlink -f "$(which node)")" > tmp/devbench/node.xz
# then run with tmp/devbench carried:  OUT=/some/dir bash scripts/tokenizer/device-bench.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
: "${OUT:?set OUT to an output directory}"
FIX=test/fixtures/tokenizers
{
  grep -m1 'model name' /proc/cpuinfo
  nproc
  mkdir -p /tmp/nodebin && xz -dc tmp/devbench/node.xz > /tmp/nodebin/node && chmod +x /tmp/nodebin/node
  echo "== node $(/tmp/nodebin/node --version)"
  timeout 60 /tmp/nodebin/node tmp/devbench/tokenizer-encode.mjs --runs 3 --json "$OUT/bench-node.json" \
    --tokenizer $FIX/nemotron-tekken-32k --tokenizer $FIX/qwen3 --tokenizer $FIX/gpt35-cl100k
  echo "== python, all cores for encode_batch"
  timeout 60 python3 scripts/tokenizer/bench_encode.py --runs 2 --json "$OUT/bench-python.json" \
    --tokenizer $FIX/nemotron-tekken-32k/tokenizer.json
  echo "== python, TOKENIZERS_PARALLELISM=false (one core)"
  TOKENIZERS_PARALLELISM=false timeout 60 python3 scripts/tokenizer/bench_encode.py --runs 2 --skip-single \
    --json "$OUT/bench-python-1core.json" --tokenizer $FIX/nemotron-tekken-32k/tokenizer.json
} 2>&1 | tee "$OUT/log.txt"
