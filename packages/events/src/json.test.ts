import t from 'tap';
import { deeperThan, parseJson } from './json.js';

const nest = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n);

t.test('depth is bounded at the limit, for arrays and objects, at any depth', async (t) => {
  t.same(parseJson(nest(256), 256), { ok: true, value: JSON.parse(nest(256)) });
  t.same(parseJson(nest(257), 256), { ok: false, reason: 'JSON nested deeper than 256' });
  const obj = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  t.equal(parseJson(obj(10), 10).ok, true);
  t.equal(parseJson(obj(11), 10).ok, false);
  t.equal(parseJson(nest(1_000_000)).ok, false, 'a million deep: refused, no stack overflow');
  t.match(parseJson('{"a":'), { ok: false, reason: /^invalid JSON: / });
  t.equal(deeperThan('x', 0), false);
  t.equal(deeperThan([[], [[]]], 2), true);
  t.equal(deeperThan([[], [[]]], 3), false);
});
