/** A model-loading progress bar on stderr (cli-progress) for `nemotron serve` / `chat`, when stderr is a terminal. */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total: number, name: string): void;
  stop(): void;
}

/** A tensor-loading bar titled `title`. */
export function loadingProgress(title: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${title} |{bar}| {percentage}% {value}/{total} tensors {name}`, stream, hideCursor: true, clearOnComplete: false, barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, name) {
      if (!started) {
        bar.start(total, 0, { name: '' });
        started = true;
      }
      bar.update(done, { name: name.length > 40 ? `…${name.slice(-39)}` : name });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
