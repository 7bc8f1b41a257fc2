#!/usr/bin/env bash
# Packs what a GPU-machine run needs beyond the git tree into .device/ (ignored by git; carried by the run):
# node_modules for vitest, tsx and koffi (with only its linux-x64 native binary) as one xz tarball.
# The Node binary itself (.device/node.xz) is provided by the workplace.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .device
# the CLI's runtime dependencies too, so that `nemotron generate --backend cuda` runs there
node scripts/cuda/closure.mjs "$PWD" vitest tsx koffi @koromix/koffi-linux-x64 cli-progress @huggingface/jinja hono @hono/node-server zod > .device/nm.list
# type declarations, source maps, docs and koffi's C sources are not needed to run (the carry limit is 64 MiB)
tar -cf - --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' --exclude='*.map' --exclude='*.md' \
  --exclude='node_modules/koffi/vendor' --exclude='node_modules/koffi/doc' --exclude='*.cc' --exclude='*.hh' --exclude='*.h' \
  -T .device/nm.list | xz -T0 -9e > .device/nm.tar.xz
du -h .device/nm.tar.xz .device/node.xz
