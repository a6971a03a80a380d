import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { CAPABILITIES, documentation, installService, UNIT_NAME, uninstallService, unitText } from './service.js';

const o = { node: '/usr/bin/node', tool: '/opt/agentsight/dist/tools/agentsight.js' };

t.test('the unit: what it runs, its store, its capabilities (each explained), hardening, limits', async (t) => {
  const u = unitText({ ...o, dir: '/var/lib/agentsight', args: ['--max-size', '1G'] });
  t.match(
    u,
    /^ExecStart=\/usr\/bin\/node \/opt\/agentsight\/dist\/tools\/agentsight.js monitor --dir \/var\/lib\/agentsight --max-size 1G$/m,
  );
  t.match(u, /^CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_KILL$/m);
  for (const [cap] of CAPABILITIES) t.match(u, new RegExp(`^#   ${cap} +\\S`, 'm'), `${cap} is explained`);
  t.notMatch(/^CapabilityBoundingSet=.*$/m.exec(u)?.[0], /CAP_SYS_ADMIN|CAP_SYS_RESOURCE/);
  t.match(u, /^LimitMEMLOCK=infinity$/m, 'instead of CAP_SYS_RESOURCE');
  t.match(u, /^Documentation=man:agentsight\(1\)$/m);
  for (const line of [
    'ProtectSystem=strict',
    'ProtectHome=read-only',
    'NoNewPrivileges=yes',
    'StateDirectory=agentsight',
    'StateDirectoryMode=0700',
    'ReadWritePaths=/var/lib/agentsight',
    'Restart=on-failure',
    'RestartPreventExitStatus=2 77',
    'MemoryMax=1G',
    'CPUQuota=100%',
    'UMask=0077',
    'WantedBy=multi-user.target',
  ])
    t.match(u, new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'), line);
  t.notMatch(u, /^PrivateTmp=/m, 'no PrivateTmp (why: in a comment)');
  t.match(u, /Not set, on purpose: PrivateTmp/);
});

t.test('ExecStart words: spaces quoted, $ and % literal', async (t) => {
  const u = unitText({ node: '/opt/my node/node', tool: '/t.js', dir: '/srv/a$b%c' });
  t.match(u, /^ExecStart="\/opt\/my node\/node" \/t\.js monitor --dir "\/srv\/a\$\$b%%c"$/m);
  t.match(u, /^ReadWritePaths="\/srv\/a\$\$b%%c"$/m);
});

t.test('install into a unit directory writes the file (0644), runs no systemctl; uninstall removes it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ran: string[][] = [];
  const r = installService({ ...o, unitDir: dir, run: (a) => ran.push(a) });
  t.equal(r.path, path.join(dir, UNIT_NAME));
  t.equal(fs.statSync(r.path).mode & 0o777, 0o644);
  t.same(r.ran, []);
  t.same(ran, []);
  t.match(fs.readFileSync(r.path, 'utf8'), /^ExecStart=/m);
  t.same(uninstallService({ unitDir: dir, run: (a) => ran.push(a) })?.path, r.path);
  t.notOk(fs.existsSync(r.path));
  t.equal(uninstallService({ unitDir: dir }), null, 'nothing installed: null');
});

t.test("Documentation: the installed man page, else the checkout's", async (t) => {
  t.equal(documentation('/src/man/agentsight.1', true), 'man:agentsight(1)');
  t.equal(documentation('/src/man/agentsight.1', false), 'file:///src/man/agentsight.1');
  t.match(
    unitText({ ...o, doc: 'file:///src/man/agentsight.1' }),
    /^Documentation=file:\/\/\/src\/man\/agentsight\.1$/m,
  );
});
