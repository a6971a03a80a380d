import t from 'tap';
import { formatSize, parseAge, parseSize } from './units.js';

t.test('sizes as people write them, powers of 1024', async (t) => {
  t.equal(parseSize('2G'), 2 * 2 ** 30);
  t.equal(parseSize('500M'), 500 * 2 ** 20);
  t.equal(parseSize('64k'), 65536);
  t.equal(parseSize('1.5GiB'), 1.5 * 2 ** 30);
  t.equal(parseSize('10mb'), 10 * 2 ** 20);
  t.equal(parseSize('4096'), 4096);
  t.equal(parseSize('0'), 0);
  for (const bad of ['', 'G', '2X', '-1G', '2 G B', 'lots']) t.throws(() => parseSize(bad), /want a size/, bad);
});

t.test('ages: s m h d w, a plain number is days', async (t) => {
  t.equal(parseAge('30d'), 30 * 86_400_000);
  t.equal(parseAge('12h'), 12 * 3_600_000);
  t.equal(parseAge('90m'), 90 * 60_000);
  t.equal(parseAge('45s'), 45_000);
  t.equal(parseAge('2w'), 14 * 86_400_000);
  t.equal(parseAge('7'), 7 * 86_400_000);
  t.equal(parseAge('0'), 0);
  for (const bad of ['', 'd', '3y', '-1d']) t.throws(() => parseAge(bad), /want an age/, bad);
});

t.test('formatSize', async (t) => {
  t.equal(formatSize(2 * 2 ** 30), '2.0 GiB');
  t.equal(formatSize(512 * 2 ** 20), '512 MiB');
  t.equal(formatSize(3500), '3.4 KiB');
  t.equal(formatSize(12), '12 B');
});
