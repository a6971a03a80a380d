import t from 'tap';
import { hostsIn, intentOf, shellWords, stableJson } from './intent.js';
import { isInside, isWriteOpen, resolveArgPath, sensitiveReason } from './paths.js';

t.test('shellWords splits like a shell, without expanding', async (t) => {
  t.same(shellWords(`ls -la 'my dir' && grep "a \\"b\\"" x.txt|wc -l>out 2>&1`), [
    'ls',
    '-la',
    'my dir',
    'grep',
    'a "b"',
    'x.txt',
    'wc',
    '-l',
    'out',
  ]);
  t.same(shellWords('echo a"b c"d'), ['echo', 'ab cd']);
  t.same(shellWords('  '), []);
});

t.test('intentOf: commands, paths, URLs and hosts from arguments', async (t) => {
  const i = intentOf('bash', {
    command: 'curl -s https://api.example.org:8443/v1 > out/data.json && cat ~/.netrc',
    timeout: 30,
  });
  t.same(i.commands, ['curl -s https://api.example.org:8443/v1 > out/data.json && cat ~/.netrc']);
  t.same(i.urls, ['https://api.example.org:8443/v1']);
  t.ok(i.hosts.includes('api.example.org'));
  t.ok(i.paths.includes('out/data.json') && i.paths.includes('~/.netrc'), i.paths.join());
  t.ok(i.tokens.has('curl') && i.tokens.has('cat'));
  t.same(intentOf('write_file', { path: 'notes.txt', content: 'hello world' }), {
    commands: [],
    paths: ['notes.txt'],
    urls: [],
    hosts: [],
    tokens: new Set(),
  });
  t.same(intentOf('run_terminal', 'npm test').commands, ['npm test'], 'raw string arguments to a shell tool');
  t.same(intentOf('exec', { argv: 'make all' }).commands, ['make all'], 'single string argument to a shell-named tool');
  t.same(intentOf('search', { query: 'how to parse json' }).commands, []);
  t.same(intentOf('edit', { file_path: '/a/b.ts', edits: [{ old: 'x', new: 'y' }] }).paths, ['/a/b.ts']);
});

t.test('hostsIn: names and addresses, not file names', async (t) => {
  t.same([...hostsIn('see http://user@10.1.2.3:80/x, docs.python.org and README.md or localhost, [::1]')].sort(), [
    '10.1.2.3',
    'docs.python.org',
    'localhost',
  ]);
  t.same([...hostsIn('wss://[2001:db8::1]:443/s')], ['2001:db8::1']);
});

t.test('stableJson ignores key order', async (t) => {
  t.equal(stableJson({ b: 1, a: [{ d: 2, c: 3 }] }), stableJson({ a: [{ c: 3, d: 2 }], b: 1 }));
  t.not(stableJson({ a: 1 }), stableJson({ a: '1' }));
});

t.test('path rules', async (t) => {
  for (const p of [
    '/root/.ssh/id_rsa',
    '/home/u/.ssh/config',
    '/etc/shadow',
    '/home/u/.aws/credentials',
    '/srv/app/.env',
    '/srv/app/.env.production',
    '/home/u/.netrc',
    '/home/u/.git-credentials',
    '/home/u/.kube/config',
  ]) {
    t.ok(sensitiveReason(p), p);
  }
  for (const p of ['/etc/ssl/private/site.key', '/srv/tls/server-key.pem', '/srv/tls/privkey.pem'])
    t.ok(sensitiveReason(p), p);
  // Certificates are public: a CA bundle a client trusts is not a secret.
  for (const p of ['/tmp/ca/ca.pem', '/etc/ssl/certs/ca-certificates.crt', '/srv/tls/fullchain.pem'])
    t.equal(sensitiveReason(p), null, p);
  for (const p of [
    '/etc/passwd',
    '/srv/app/.env.example',
    '/root/.ssh/id_rsa.pub',
    '/srv/app/environment.ts',
    '/srv/app/.envrc2/x',
  ])
    t.equal(sensitiveReason(p), null, p);
  t.equal(sensitiveReason('/home/u/.claude/sessions/4242.9f2c1e.key'), null, "Claude Code's own session state");
  t.ok(sensitiveReason('/home/u/.claude/keys/site.key'), 'other keys under ~/.claude still are');
  t.ok(isInside('/proj/a/b', '/proj'));
  t.ok(isInside('/proj', '/proj'));
  t.notOk(isInside('/project2/a', '/proj'));
  t.notOk(isInside('/etc/x', '/proj'));
  t.ok(isWriteOpen(1) && isWriteOpen(2) && isWriteOpen(0o100) && isWriteOpen(0o1000));
  t.notOk(isWriteOpen(0) || isWriteOpen(0o200000));
  t.equal(resolveArgPath('~/x', '/p', '/root'), '/root/x');
  t.equal(resolveArgPath('../x', '/p/q', undefined), '/p/x');
  t.equal(resolveArgPath('x', undefined, undefined), null);
});
