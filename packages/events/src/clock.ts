// Kernel timestamps (bpf_ktime_get_ns) are CLOCK_MONOTONIC; events carry wall-clock
// microseconds. This is the one place the two are related. The offset is measured once
// per process so that event order in the kernel is kept in the output even if the wall
// clock is stepped later.

let offsetNs: bigint | undefined;
/** The offset as whole µs and the ns left over, for arithmetic on numbers. */
let offsetUs = 0;
let offsetRemNs = 0;

function measureOffsetNs(): bigint {
  // process.hrtime.bigint() is CLOCK_MONOTONIC on Linux (libuv uv_hrtime), the same
  // clock as bpf_ktime_get_ns. Take the tightest of a few samples.
  let best: bigint | undefined;
  let bestSpan = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < 5; i++) {
    const m0 = process.hrtime.bigint();
    const wallUs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
    const m1 = process.hrtime.bigint();
    const span = m1 - m0;
    if (span < bestSpan) {
      bestSpan = span;
      best = wallUs * 1000n - (m0 + span / 2n);
    }
  }
  return best!;
}

/** Convert a CLOCK_MONOTONIC reading in nanoseconds to wall-clock µs since the epoch. */
export function monoToWallUs(monoNs: bigint | number): number {
  if (offsetNs === undefined) {
    offsetNs = measureOffsetNs();
    offsetUs = Number(offsetNs / 1000n);
    offsetRemNs = Number(offsetNs % 1000n);
    if (offsetRemNs < 0) {
      offsetRemNs += 1000;
      offsetUs -= 1;
    }
  }
  // Numbers (as the ring's records are read) without BigInt: called once per event.
  if (typeof monoNs === 'number') return Math.floor((monoNs + offsetRemNs) / 1000) + offsetUs;
  return Number((monoNs + offsetNs) / 1000n);
}

/** Wall-clock now, integer µs since the epoch. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** CLOCK_MONOTONIC now, in nanoseconds. */
export function monoNowNs(): bigint {
  return process.hrtime.bigint();
}
