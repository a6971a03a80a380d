// BENCH_SMOKE=1 (the full suite's bench test): every bench once with tiny sizes, to show it
// still runs and reports, not to measure anything.
export const SMOKE = process.env.BENCH_SMOKE === '1';

/** A size: from the environment variable if set, else the full run's or the smoke run's. */
export const size = (env: string, full: number, smoke: number): number =>
  Number(process.env[env] ?? (SMOKE ? smoke : full));
