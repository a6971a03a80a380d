// Chart axes that read right at every scale: ticks on 1-2-5 steps, labels with as many
// decimals as the step needs (so 0.001, 0.002 … never "0.001, 0.001"), units with k/M/B.
// Pure functions (no DOM): test/ui-scale.test.ts bundles and tests this file in Node.

export type Unit = 'usd' | 'tokens' | 'count' | 'ms' | 'pct' | 'mib';

/** The 1-2-5 step at or above raw. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  // Rounding: 10 ** -3 * 2 is 0.002 exactly only after this.
  const m = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
  return Number((m * p).toPrecision(12));
}

/** Ticks from 0 (or below lo) to at least hi, about `target` of them, on a 1-2-5 step (whole with `integer`). */
export function niceTicks(
  lo: number,
  hi: number,
  target = 5,
  integer = false,
): { ticks: number[]; step: number; max: number } {
  const a = Math.min(0, lo);
  let b = Math.max(hi, a);
  if (b === a) b = a + 1;
  // Counted things (calls) have no half: whole steps.
  const step = Math.max(integer ? 1 : 0, niceStep((b - a) / Math.max(1, target)));
  const start = Math.floor(a / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const v = Number((start + i * step).toPrecision(12));
    ticks.push(v);
    if (v >= b - step * 1e-9 || i > 100) break;
  }
  return { ticks, step, max: ticks[ticks.length - 1]! };
}

/** Decimals needed to tell values `step` apart. */
export function decimalsFor(step: number): number {
  if (!(step > 0)) return 0;
  return Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
}

const SI: Array<[number, string]> = [
  [1e9, 'B'],
  [1e6, 'M'],
  [1e3, 'k'],
];

/** A count with k/M/B, with the decimals `step` needs in that unit. */
function si(v: number, step: number, top: number): string {
  if (v === 0) return '0';
  for (const [f, sfx] of SI) {
    if (Math.abs(top) >= f) {
      const d = decimalsFor(step / f);
      return `${(v / f).toFixed(d)}${sfx}`;
    }
  }
  return v.toFixed(decimalsFor(step));
}

/**
 * An axis label: `step` is the tick step and `top` the largest tick, so that every label of
 * one axis has the same unit and precision.
 */
export function fmtTick(v: number, unit: Unit, step: number, top = v): string {
  switch (unit) {
    case 'usd': {
      if (v === 0) return '$0';
      const d = decimalsFor(step);
      return `$${v.toFixed(step < 1 ? Math.max(d, 2) : d)}`;
    }
    case 'tokens':
    case 'count':
      return si(v, step, top);
    case 'ms':
      return top >= 1000 ? `${(v / 1000).toFixed(decimalsFor(step / 1000))} s` : `${v.toFixed(decimalsFor(step))} ms`;
    case 'pct':
      return `${v.toFixed(decimalsFor(step))}%`;
    case 'mib':
      return top >= 1024
        ? `${(v / 1024).toFixed(decimalsFor(step / 1024))} GiB`
        : `${v.toFixed(decimalsFor(step))} MiB`;
  }
}

/** A value on its own (tables, tooltips): the same units as the axes. */
export function fmtValue(v: number | null | undefined, unit: Unit): string {
  if (v == null || !Number.isFinite(v)) return '—';
  if (unit === 'usd') {
    if (v === 0) return '$0';
    const a = Math.abs(v);
    return `$${v.toFixed(a >= 100 ? 0 : a >= 1 ? 2 : a >= 0.01 ? 3 : 4)}`;
  }
  if (unit === 'tokens' || unit === 'count') {
    const a = Math.abs(v);
    for (const [f, sfx] of SI) if (a >= f) return `${(v / f).toFixed(a / f >= 100 ? 0 : 1)}${sfx}`;
    return String(Math.round(v));
  }
  return fmtTick(v, unit, v / 100 || 1, v);
}

const SEC = 1_000_000;
const TIME_STEPS = [
  1,
  2,
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1e3,
  2e3,
  5e3,
  1e4,
  2e4,
  5e4,
  1e5,
  2e5,
  5e5,
  SEC,
  2 * SEC,
  5 * SEC,
  10 * SEC,
  15 * SEC,
  30 * SEC,
  60 * SEC,
  120 * SEC,
  300 * SEC,
  600 * SEC,
  900 * SEC,
  1800 * SEC,
  3600 * SEC,
  7200 * SEC,
  3 * 3600 * SEC,
  6 * 3600 * SEC,
  12 * 3600 * SEC,
  86400 * SEC,
  2 * 86400 * SEC,
  7 * 86400 * SEC,
  14 * 86400 * SEC,
  28 * 86400 * SEC,
];

/** Time ticks (µs since the epoch) on round local times, about `target` across the span. */
export function timeTicks(from: number, to: number, target = 6): { ticks: number[]; step: number } {
  const span = Math.max(1, to - from);
  const step = TIME_STEPS.find((s) => s >= span / Math.max(1, target)) ?? TIME_STEPS[TIME_STEPS.length - 1]!;
  // Round in local time: a day step starts at local midnight, an hour step on the hour.
  const tz = new Date(from / 1000).getTimezoneOffset() * 60 * SEC;
  const start = Math.ceil((from - tz) / step) * step + tz;
  const ticks: number[] = [];
  for (let t = start; t <= to && ticks.length < 200; t += step) ticks.push(t);
  return { ticks, step };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A time tick's label: a date for day steps, with seconds or milliseconds when the step needs them. */
export function fmtTimeTick(t: number, step: number, span: number): string {
  const d = new Date(t / 1000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const day = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
  if (step >= 86400 * SEC) return day;
  let hm = `${p(d.getHours())}:${p(d.getMinutes())}`;
  if (step < 60 * SEC) hm += `:${p(d.getSeconds())}`;
  if (step < SEC) hm += `.${p(d.getMilliseconds(), 3)}`;
  // Over more than a day an hour repeats: say the day with it (alone at midnight).
  if (span > 86400 * SEC) return d.getHours() === 0 && d.getMinutes() === 0 ? day : `${day} ${hm}`;
  return hm;
}

/** A bucket width said in words ("per hour"). */
export function perBucket(us: number): string {
  const names: Array<[number, string]> = [
    [86400 * SEC, 'day'],
    [3600 * SEC, 'hour'],
    [60 * SEC, 'minute'],
    [SEC, 'second'],
  ];
  for (const [f, n] of names) if (us >= f && us % f === 0) return us === f ? `per ${n}` : `per ${us / f} ${n}s`;
  return us >= 1000 ? `per ${us / 1000} ms` : `per ${us} µs`;
}
