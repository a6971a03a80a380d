import { createHash } from 'node:crypto';

/**
 * Deterministic ids: a hash of what identifies the thing, so exporting the same capture
 * twice yields the same trace and span ids and backends deduplicate instead of doubling.
 * Returns lower-case hex of `bytes` bytes, never all zero (an invalid id in OTLP).
 */
export function hashId(bytes: 8 | 16, ...parts: Array<string | number>): string {
  const h = createHash('sha256').update(parts.map(String).join('\u001f')).digest();
  const id = h.subarray(0, bytes);
  if (id.every((b) => b === 0)) id[bytes - 1] = 1;
  return id.toString('hex');
}

export const traceIdOf = (...parts: Array<string | number>): string => hashId(16, ...parts);
export const spanIdOf = (...parts: Array<string | number>): string => hashId(8, ...parts);

/** Microseconds since the epoch as the decimal nanosecond string OTLP/JSON uses for fixed64. */
export function usToNanos(us: number): string {
  // A time derived from a wire value (start + a huge duration) can leave fixed64's range or
  // be Infinity: clamp it, an out-of-range span end is no reason to lose the export.
  const c = Number.isFinite(us) ? Math.min(Math.max(us, 0), MAX_US) : us > 0 ? MAX_US : 0;
  return (BigInt(Math.round(c)) * 1000n).toString();
}

/** The largest microsecond count whose nanoseconds fit an unsigned 64-bit integer. */
const MAX_US = Math.floor(Number(2n ** 64n - 1n) / 1000 / 2);
