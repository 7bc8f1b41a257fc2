/**
 * `nemotron` command line: dispatches subcommands (each in src/cli/commands/<name>.ts exporting
 * `run(argv)` and `usage`), and turns known errors into one clear line and an exit code.
 */
import { ConfigError } from '../models/config.js';
import { CheckpointError } from '../loaders/safetensors.js';
import { UsageError } from './args.js';

/** Subcommand -> module and one-line description. Modules are loaded on use (the CUDA one pulls in an FFI). */
const COMMANDS: Record<string, { module: string; about: string }> = {
  generate: { module: './commands/generate.js', about: 'continue a prompt' },
  info: { module: './commands/info.js', about: 'describe a model directory' },
  serve: { module: './commands/serve.js', about: 'OpenAI-compatible HTTP server (NIM / vLLM API)' },
  chat: { module: './commands/chat.js', about: 'interactive chat (streams, reasoning, demo tools)' },
  bench: { module: './commands/bench.js', about: 'decode/prefill speed (CUDA graphs, random weights of the real shape)' },
};

interface CommandModule {
  run(argv: string[]): Promise<void> | void;
  usage: string;
}

const USAGE = `nemotron <command> [options]   (nemotron <command> --help)

commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.about}`).join('\n')}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h') {
    console.log(USAGE);
    return cmd ? 0 : 1;
  }
  try {
    const entry = COMMANDS[cmd];
    if (!entry) throw new UsageError(`unknown command "${cmd}"\n\n${USAGE}`);
    const mod = (await import(entry.module)) as CommandModule;
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(mod.usage);
      return 0;
    }
    await mod.run(rest);
    return 0;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const usage = e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS');
    const known = usage || e instanceof ConfigError || e instanceof CheckpointError || e instanceof RangeError;
    process.stderr.write(`nemotron: ${known ? err.message : err.stack ?? err.message}\n`);
    return usage ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
