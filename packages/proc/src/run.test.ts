import t from 'tap';
import { targetsFrom } from './run.js';

t.test('targets from the command line', async (t) => {
  t.same(targetsFrom({ _: [] }), {}, 'nothing: everything');
  t.same(targetsFrom({ pid: ['12', '34,56'], _: [] }), { pids: [12, 34, 56] }, '-p repeated and comma separated');
  t.same(targetsFrom({ comm: 'claude', _: [] }), { comm: 'claude' });
  t.same(targetsFrom({ cmd: true, _: ['bash', '-c', 'x'] }), { cmd: ['bash', '-c', 'x'] });
  t.same(targetsFrom({ _: ['make', 'test'] }), { cmd: ['make', 'test'] }, 'a command without --cmd is still one');
});

t.test('usage errors', async (t) => {
  const bad = (a: Parameters<typeof targetsFrom>[0], re: RegExp) =>
    t.throws(() => targetsFrom(a), { message: re, code: 2 });
  bad({ cmd: true, _: [] }, /needs a command/);
  bad({ pid: ['12x'], _: [] }, /not a pid: 12x/);
  bad({ pid: ['0'], _: [] }, /not a pid: 0/);
  bad({ pid: ['-3'], _: [] }, /not a pid/);
  bad({ comm: '', _: [] }, /empty name/);
  bad({ pid: ['1'], comm: 'x', _: [] }, /one of -p, -c and --cmd/);
  bad({ comm: 'x', _: ['true'] }, /one of -p, -c and --cmd/);
});
