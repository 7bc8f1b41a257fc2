/**
 * Prometheus metrics in the vLLM naming (`vllm:*`, label `model_name`) that NIM 2.x serves at /metrics:
 * request counts by finish reason, prompt/generation token counters, running/waiting gauges, state memory,
 * and TTFT / inter-token / end-to-end latency histograms. Text exposition format 0.0.4, no dependencies.
 */

type Labels = Record<string, string>;
const key = (l: Labels): string => JSON.stringify(Object.entries(l).sort());
const fmtLabels = (l: Labels): string => {
  const e = Object.entries(l);
  return e.length ? `{${e.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',')}}` : '';
};

class Counter {
  private readonly values = new Map<string, { labels: Labels; v: number }>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels, by = 1): void {
    const k = key(labels);
    const cur = this.values.get(k);
    if (cur) cur.v += by;
    else this.values.set(k, { labels, v: by });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, v } of this.values.values()) lines.push(`${this.name}${fmtLabels(labels)} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; n: number }>();
  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}
  observe(labels: Labels, v: number): void {
    const k = key(labels);
    let cur = this.values.get(k);
    if (!cur) this.values.set(k, (cur = { labels, counts: this.buckets.map(() => 0), sum: 0, n: 0 }));
    this.buckets.forEach((b, i) => {
      if (v <= b) cur.counts[i]++;
    });
    cur.sum += v;
    cur.n++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { labels, counts, sum, n } of this.values.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${fmtLabels({ ...labels, le: String(b) })} ${counts[i]}`));
      lines.push(`${this.name}_bucket${fmtLabels({ ...labels, le: '+Inf' })} ${n}`);
      lines.push(`${this.name}_sum${fmtLabels(labels)} ${sum}`);
      lines.push(`${this.name}_count${fmtLabels(labels)} ${n}`);
    }
    return lines.join('\n');
  }
}

const LATENCY = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const TOKENS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];

/** Live values read at scrape time. */
export interface Gauges {
  running: number;
  waiting: number;
  stateBytes: number;
  liveStates: number;
  maxRunning: number;
}

export class Metrics {
  readonly requestSuccess = new Counter('vllm:request_success_total', 'Finished requests by finish reason.');
  readonly requestFailure = new Counter('vllm:request_failure_total', 'Requests that failed (by HTTP status).');
  readonly promptTokens = new Counter('vllm:prompt_tokens_total', 'Prefill tokens processed.');
  readonly generationTokens = new Counter('vllm:generation_tokens_total', 'Tokens generated.');
  readonly httpRequests = new Counter('nemotron:http_requests_total', 'HTTP requests by route and status.');
  readonly ttft = new Histogram('vllm:time_to_first_token_seconds', 'Time to first token.', LATENCY);
  readonly itl = new Histogram('vllm:inter_token_latency_seconds', 'Time between output tokens.', LATENCY);
  readonly tpot = new Histogram('vllm:time_per_output_token_seconds', 'Time per output token (alias of inter-token latency).', LATENCY);
  readonly e2e = new Histogram('vllm:e2e_request_latency_seconds', 'End-to-end request latency.', LATENCY);
  readonly promptHist = new Histogram('vllm:request_prompt_tokens', 'Prompt tokens per request.', TOKENS);
  readonly genHist = new Histogram('vllm:request_generation_tokens', 'Generated tokens per request.', TOKENS);

  constructor(readonly modelName: string) {}

  get labels(): Labels {
    return { model_name: this.modelName };
  }

  /** Prometheus text exposition. */
  render(g: Gauges | null): string {
    const l = fmtLabels(this.labels);
    const gauge = (name: string, help: string, v: number) => `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}${l} ${v}`;
    const parts = [
      gauge('vllm:num_requests_running', 'Requests running on the engine.', g?.running ?? 0),
      gauge('vllm:num_requests_waiting', 'Requests waiting for a running slot.', g?.waiting ?? 0),
      gauge('vllm:num_request_max', 'Most requests that run at once.', g?.maxRunning ?? 0),
      gauge('nemotron:state_bytes', 'Bytes of Mamba conv/SSM state and KV cache held by live sequences.', g?.stateBytes ?? 0),
      gauge('nemotron:live_states', 'Sequences holding model state.', g?.liveStates ?? 0),
      ...[this.requestSuccess, this.requestFailure, this.promptTokens, this.generationTokens, this.httpRequests].map((c) => c.render()),
      ...[this.ttft, this.itl, this.tpot, this.e2e, this.promptHist, this.genHist].map((h) => h.render()),
    ];
    return `${parts.join('\n')}\n`;
  }
}
