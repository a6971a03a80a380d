import t from 'tap';
import { parseRule, Selector, SelectorError } from './selector.js';

const claude = {
  exe: '/home/u/.local/share/claude/versions/2.1.197',
  argv: ['claude', '-p', 'x'],
  comm: 'claude',
  uid: 1000,
  agent: { id: 'claude-code', name: 'Claude Code', via: 'path' as const },
};
const py = { exe: '/usr/bin/python3.11', argv: ['python3', '/srv/bot/agent.py'], comm: 'python3', uid: 0 };

t.test('rules', async (t) => {
  t.ok(parseRule('comm:claude').test(claude));
  t.ok(parseRule('comm:cl*').test(claude));
  t.notOk(parseRule('comm:claud').test(claude), 'whole names');
  t.ok(parseRule('comm:a-very-long-process-name').test({ comm: 'a-very-long-pro' }), 'the kernel keeps 15 bytes');
  t.ok(parseRule('path:/usr/bin/python3*').test(py));
  t.ok(parseRule('path:/srv/bot/*').test(py), 'the script an interpreter runs');
  t.ok(parseRule('path:*/claude/versions/*').test(claude));
  t.notOk(parseRule('path:/usr/bin/python3').test(py));
  t.ok(parseRule('uid:1000').test(claude));
  t.notOk(parseRule('uid:1000').test(py));
  t.notOk(parseRule('uid:0').test({ comm: 'x' }), 'unknown uid matches no uid rule');
  t.ok(parseRule('agent:claude-code').test(claude));
  t.ok(parseRule('agent:*').test(claude));
  t.notOk(parseRule('agent:*').test(py));
  t.ok(parseRule('path:/a.b(c)').test({ exe: '/a.b(c)' }), 'regex characters are literal');
  t.notOk(parseRule('path:/a.b').test({ exe: '/aXb' }));
});

t.test('bad rules say why', async (t) => {
  for (const [r, why] of [
    ['claude', /KIND:VALUE/],
    ['name:claude', /KIND one of comm, path, uid, agent/],
    ['comm:', /empty value/],
    ['uid:me', /numeric user id/],
  ] as const)
    t.throws(() => parseRule(r), { constructor: SelectorError, message: why }, r);
});

t.test('verdicts: deny wins; without allow rules everything else is captured', async (t) => {
  const s = new Selector({ allow: ['uid:1000'], deny: ['agent:claude-code'] });
  t.equal(s.verdict(claude), 'deny');
  t.equal(s.verdict({ ...py, uid: 1000 }), 'allow');
  t.equal(s.verdict(py), undefined);
  t.notOk(s.byDefault);
  t.ok(s.needsAgent);
  t.equal(s.describe(), 'allow uid:1000; deny agent:claude-code');
  const d = new Selector({ deny: ['comm:python3'] });
  t.ok(d.byDefault);
  t.notOk(d.needsAgent);
  t.ok(new Selector().empty);
  t.ok(new Selector({ allow: [], deny: [] }).empty);
});
