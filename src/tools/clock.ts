// The `get_current_time` demo tool: the current date and time in an IANA time zone (or a few well-known
// city names), read from an injectable clock so tests and generated training data are reproducible.
import type { DemoTool, ToolContext, ToolOutcome } from './types.js';

/** Cities the demo knows by name, with their IANA zones (the synthetic data uses the same table). */
export const CITY_ZONES: Readonly<Record<string, string>> = {
  London: 'Europe/London',
  Paris: 'Europe/Paris',
  Berlin: 'Europe/Berlin',
  Madrid: 'Europe/Madrid',
  Rome: 'Europe/Rome',
  Moscow: 'Europe/Moscow',
  Cairo: 'Africa/Cairo',
  Lagos: 'Africa/Lagos',
  Nairobi: 'Africa/Nairobi',
  Dubai: 'Asia/Dubai',
  Mumbai: 'Asia/Kolkata',
  Delhi: 'Asia/Kolkata',
  Singapore: 'Asia/Singapore',
  Beijing: 'Asia/Shanghai',
  Shanghai: 'Asia/Shanghai',
  Tokyo: 'Asia/Tokyo',
  Seoul: 'Asia/Seoul',
  Sydney: 'Australia/Sydney',
  Auckland: 'Pacific/Auckland',
  'New York': 'America/New_York',
  Chicago: 'America/Chicago',
  Denver: 'America/Denver',
  'Los Angeles': 'America/Los_Angeles',
  Toronto: 'America/Toronto',
  'Mexico City': 'America/Mexico_City',
  'Sao Paulo': 'America/Sao_Paulo',
  'Buenos Aires': 'America/Argentina/Buenos_Aires',
};

const CITY_LOOKUP = new Map(Object.entries(CITY_ZONES).map(([c, z]) => [c.toLowerCase().replace(/\s+/g, ' '), z]));

/** Resolves a time-zone argument: an IANA name, `UTC`, or a known city. Undefined when unknown. */
export function resolveTimeZone(text: string): string | undefined {
  const t = text.trim();
  const city = CITY_LOOKUP.get(t.toLowerCase().replace(/[\s_]+/g, ' '));
  if (city) return city;
  if (/^(utc|gmt|z)$/i.test(t)) return 'UTC';
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: t }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** Date, 24-hour time and weekday of `when` in `timeZone` (an IANA name). */
export interface LocalTime {
  timezone: string;
  date: string;
  time: string;
  weekday: string;
}

/** Wall-clock reading of an instant in a zone. @throws RangeError for an unknown zone. */
export function localTime(when: Date, timeZone: string): LocalTime {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'long',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(when);
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return {
    timezone: timeZone,
    date: `${get('year')}-${get('month')}-${get('day')}`,
    time: `${get('hour')}:${get('minute')}`,
    weekday: get('weekday'),
  };
}

/** The `get_current_time` tool. */
export const clockTool: DemoTool = {
  name: 'get_current_time',
  description: 'Get the current date and time in a time zone.',
  parameters: {
    type: 'object',
    properties: {
      timezone: { type: 'string', description: 'IANA time zone name, for example Europe/Paris or America/New_York' },
    },
    required: ['timezone'],
  },
  execute(args, ctx?: ToolContext): ToolOutcome {
    const tz = args.timezone;
    if (typeof tz !== 'string') return { ok: false, error: "missing string argument 'timezone'" };
    const zone = resolveTimeZone(tz);
    if (!zone) return { ok: false, error: `unknown time zone '${tz}'` };
    const now = (ctx?.now ?? (() => new Date()))();
    return { ok: true, value: { ...localTime(now, zone) } };
  },
};
