import { validateEvent } from '@agentsight/events';
import t from 'tap';
import { gapEvent } from './gap.js';

t.test('a run that died: from the last event it stored to this start', async (t) => {
  const g = gapEvent({ run: 'a', startTs: 100, lastTs: 250 }, 1000, 'mon');
  t.same(g, { v: 1, ts: 1000, src: 'meta', type: 'gap', tool: 'mon', from: 250, to: 1000, reason: 'crash', run: 'a' });
  t.equal(validateEvent(g), null, 'a valid meta/gap event');
});

t.test('a run that stopped: from its stop', async (t) => {
  const g = gapEvent({ startTs: 100, stopTs: 300, lastTs: 300 }, 1000, 'mon');
  t.same([g?.from, g?.to, g?.reason, 'run' in g!], [300, 1000, 'stopped', false]);
});

t.test('no earlier run: no gap; a clock that went back never gives a negative one', async (t) => {
  t.equal(gapEvent(null, 1000, 'mon'), null);
  const g = gapEvent({ startTs: 100, lastTs: 5000 }, 1000, 'mon');
  t.same([g?.from, g?.to], [1000, 1000]);
});

t.test('the schema checks a gap', async (t) => {
  t.match(validateEvent({ v: 1, ts: 1, src: 'meta', type: 'gap', from: 1, reason: 'crash' }), /meta\/gap: to:/);
  t.match(
    validateEvent({ v: 1, ts: 1, src: 'meta', type: 'stats', cpu_pct: 0.1, rss_kb: 1, lost_records: 0 }),
    /store_bytes/,
  );
});
