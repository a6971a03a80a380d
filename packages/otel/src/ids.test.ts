import t from 'tap';
import { usToNanos } from './ids.js';

t.test(
  'usToNanos: microseconds as OTLP nanoseconds, clamped to fixed64 for times derived from wire values',
  async (t) => {
    t.equal(usToNanos(1_790_000_000_000_000), '1790000000000000000');
    t.equal(usToNanos(1.5), '2000');
    t.equal(usToNanos(Number.POSITIVE_INFINITY), usToNanos(1e300), 'Infinity clamps like any huge time');
    t.ok(BigInt(usToNanos(1e300)) < 2n ** 64n, 'fits fixed64');
    t.equal(usToNanos(-5), '0');
    t.equal(usToNanos(Number.NaN), '0');
  },
);
