import t from 'tap';
import { RecentSet } from './recent.js';

t.test('bounded: the least recently added go first; re-adding refreshes', async (t) => {
  const s = new RecentSet<number>(3);
  for (const x of [1, 2, 3]) s.add(x);
  s.add(1);
  s.add(4);
  t.same([...s], [3, 1, 4], '2 was the oldest');
  s.delete(3);
  t.equal(s.size, 2);
  t.ok(s.has(4));
  t.notOk(s.has(2));
  for (let i = 0; i < 1000; i++) s.add(i);
  t.equal(s.size, 3);
});
