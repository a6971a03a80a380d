import t from 'tap';
import { BadRequest, parseParams } from './params.js';
import { argMatches } from './query.js';

t.test('argMatches: a tool call and the argv it ran', async (t) => {
  t.ok(argMatches({ command: 'wc -l README.md' }, ['wc', '-l', 'README.md']));
  t.ok(argMatches({ command: 'wc -l README.md' }, ['/bin/sh', '-c', 'wc -l README.md']));
  t.ok(argMatches({ cmd: 'cd src && make -j4' }, ['make', '-j4']), 'program name inside a shell line');
  t.notOk(argMatches({ command: 'ls' }, ['/bin/sh', '-c', 'make']), 'different command');
  t.notOk(argMatches({ command: 'make test' }, ['bash']), 'the shell alone matches nothing');
  t.notOk(argMatches({}, ['make']));
});

t.test('parseParams', async (t) => {
  const sp = new URLSearchParams('limit=5&src=proc,llm&from=2026-01-01T00:00:00Z&cursor=12.3&token=x');
  const p = parseParams(sp, { limit: 'uint', src: 'list', from: 'time', cursor: 'cursor' });
  t.same(
    p,
    { limit: 5, src: ['proc', 'llm'], from: Date.parse('2026-01-01T00:00:00Z') * 1000, cursor: [12, 3] },
    'token is the auth parameter, not a filter',
  );
  t.throws(() => parseParams(new URLSearchParams('x=1'), {}), /unknown parameter 'x'/);
  try {
    parseParams(new URLSearchParams('x=1'), {});
  } catch (e) {
    t.ok(e instanceof BadRequest, 'a BadRequest (HTTP 400)');
  }
  t.throws(() => parseParams(new URLSearchParams('limit=1.5'), { limit: 'uint' }), /integer/);
  t.throws(() => parseParams(new URLSearchParams('limit=-1'), { limit: 'uint' }), /non-negative/);
});
