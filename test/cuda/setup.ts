import { afterEach } from 'vitest';

// GPU tests run long synchronous stretches (CPU references at the real shapes). Vitest's worker answers the runner
// over an RPC with a fixed 60 s timeout, and a worker that never yields cannot read the reply, so a passing run can
// still end with "Timeout calling onTaskUpdate" (seen on an H200 run of ops + sample + engine tests, 2026-11-29).
// One macrotask turn after each test lets the reply in.
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve));
});
