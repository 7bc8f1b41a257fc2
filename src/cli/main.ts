/** `nemotron` command line: dispatches subcommands; turns known errors into one clear line and exit code. */
import { ConfigError } from '../models/config.js';
import { CheckpointError } from '../loaders/safetensors.js';
import { UsageError } from './args.js';
import { GENERATE_USAGE, generateCommand } from './commands/generate.js';
import { infoCommand } from './commands/info.js';

const USAGE = `nemotron <command> [options]

commands:
  generate   continue a prompt          (nemotron generate --help)
  info       describe a model directory (nemotron info --model DIR)

${GENERATE_USAGE}`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || rest.includes('--help')) {
    console.log(USAGE);
    return cmd ? 0 : 1;
  }
  try {
    if (cmd === 'generate') await generateCommand(rest);
    else if (cmd === 'info') infoCommand(rest);
    else throw new UsageError(`unknown command "${cmd}"\n\n${USAGE}`);
    return 0;
  } catch (e) {
    const err = e as Error;
    const known = e instanceof UsageError || e instanceof ConfigError || e instanceof CheckpointError || e instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    process.stderr.write(`nemotron: ${known ? err.message : err.stack ?? err.message}\n`);
    return e instanceof UsageError || (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
