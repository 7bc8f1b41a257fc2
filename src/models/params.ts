/** Parameter counts from the config alone (model-spec 8): total, and active per token excluding the embedding. */
import type { NemotronHConfig } from './config.js';
import { expectedTensors } from './tensors.js';

export function parameterCounts(c: NemotronHConfig): { total: number; activePerToken: number } {
  const tensors = expectedTensors(c);
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const sum = (re: RegExp) => tensors.filter((t) => re.test(t.name)).reduce((a, t) => a + size(t.shape), 0);
  const total = sum(/./);
  const experts = sum(/\.experts\.\d+\./);
  const activeExperts = c.nRoutedExperts ? (experts / c.nRoutedExperts) * c.numExpertsPerTok : 0;
  return { total, activePerToken: total - experts + activeExperts - sum(/^embeddings\./) };
}
