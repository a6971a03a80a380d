import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { environmentFor, exitStatus, resolveCommand, resolveElf, spawnGated, sudoUser, userBinDirs } from './index.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'as-exec-'));

t.test('resolveCommand: PATH order, extra dirs, explicit paths', async (t) => {
  const a = tmp(),
    b = tmp();
  fs.writeFileSync(path.join(b, 'tool'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(a, 'notexec'), 'x', { mode: 0o644 });
  t.equal(resolveCommand('tool', { PATH: a }), null);
  t.equal(resolveCommand('tool', { PATH: a }, [b]), path.join(b, 'tool'));
  t.equal(resolveCommand('notexec', { PATH: a }), null, 'not executable');
  t.equal(resolveCommand(path.join(b, 'tool'), {}), path.join(b, 'tool'));
  t.equal(resolveCommand('sh', { PATH: '/usr/bin:/bin' }), '/usr/bin/sh');
});

t.test('resolveElf follows symlinks and #!/usr/bin/env wrappers to the ELF', async (t) => {
  const d = tmp();
  const bin = path.join(d, 'bin'),
    lib = path.join(d, 'lib');
  fs.mkdirSync(bin);
  fs.mkdirSync(lib);
  // An npm-style install: bin/agent -> ../lib/cli.js, a node script.
  fs.writeFileSync(path.join(lib, 'cli.js'), '#!/usr/bin/env -S node --no-warnings\nconsole.log(1)\n', { mode: 0o755 });
  fs.symlinkSync('../lib/cli.js', path.join(bin, 'agent'));
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const r = resolveElf(path.join(bin, 'agent'), { PATH: bin });
  t.equal(r.elf, fs.realpathSync(process.execPath));
  t.same(r.chain.slice(0, 2), [path.join(bin, 'agent'), path.join(lib, 'cli.js')]);
  // A direct interpreter path, and an ELF given as is.
  fs.writeFileSync(path.join(lib, 'x.sh'), '#!/bin/sh -e\n', { mode: 0o755 });
  t.equal(resolveElf(path.join(lib, 'x.sh')).elf, fs.realpathSync('/bin/sh'));
  t.equal(resolveElf(process.execPath).elf, fs.realpathSync(process.execPath));
  fs.writeFileSync(path.join(lib, 'data'), 'hello', { mode: 0o755 });
  t.throws(() => resolveElf(path.join(lib, 'data')), /neither an ELF/);
  fs.writeFileSync(path.join(lib, 'missing.js'), '#!/usr/bin/env nosuchinterp\n', { mode: 0o755 });
  t.throws(() => resolveElf(path.join(lib, 'missing.js'), { PATH: bin }), /'nosuchinterp' not found/);
});

t.test('sudoUser and the user environment', async (t) => {
  t.equal(sudoUser({}), null);
  t.equal(sudoUser({ SUDO_USER: 'root', SUDO_UID: '0', SUDO_GID: '0' }), null, 'root is not dropped to');
  const u = sudoUser({ SUDO_USER: 'nobody', SUDO_UID: '65534', SUDO_GID: '65534' });
  t.same(u, { name: 'nobody', uid: 65534, gid: 65534, home: '/nonexistent' });
  const env = environmentFor(u, { PATH: '/usr/bin', HOME: '/root', SUDO_USER: 'nobody', KEEP: '1' });
  t.equal(env.HOME, '/nonexistent');
  t.equal(env.USER, 'nobody');
  t.equal(env.KEEP, '1');
  t.equal(env.SUDO_USER, undefined);
  t.match(env.PATH!, /^\/usr\/bin:\/nonexistent\/\.local\/bin:/);
  const home = tmp();
  fs.writeFileSync(path.join(home, '.npmrc'), 'prefix=~/npm-prefix\n');
  fs.mkdirSync(path.join(home, '.nvm/versions/node/v20.1.0'), { recursive: true });
  t.ok(userBinDirs(home).includes(path.join(home, 'npm-prefix/bin')));
  t.ok(userBinDirs(home).includes(path.join(home, '.nvm/versions/node/v20.1.0/bin')));
});

t.test('spawnGated: nothing runs before release; same pid after; exit status passes through', async (t) => {
  const d = tmp();
  const marker = path.join(d, 'ran');
  const g = spawnGated('/bin/sh', ['-c', `echo $$ > ${marker}; exit 7`], { stdio: 'pipe' });
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(fs.existsSync(marker), 'held at the gate');
  g.release();
  const e = await g.exited;
  t.equal(exitStatus(e), 7);
  t.equal(Number(fs.readFileSync(marker, 'utf8')), g.pid, 'the agent runs in the gated pid');
});

t.test('spawnGated: killed by a signal gives 128+n; a dead parent never runs the agent', async (t) => {
  const g = spawnGated('/bin/sleep', ['30'], { stdio: 'pipe' });
  g.release();
  await new Promise((r) => setTimeout(r, 200));
  process.kill(g.pid, 'SIGTERM');
  t.equal(exitStatus(await g.exited), 143);
  const d = tmp();
  const marker = path.join(d, 'ran');
  const h = spawnGated('/bin/sh', ['-c', `touch ${marker}`], { stdio: 'pipe' });
  (h.child.stdio[3] as import('node:stream').Writable).destroy(); // as if we died
  t.equal(exitStatus(await h.exited), 125);
  t.notOk(fs.existsSync(marker));
});

t.test(
  'spawnGated drops root to the sudo user',
  { skip: process.getuid?.() !== 0 ? 'needs root to change uid' : false },
  async (t) => {
    const d = tmp();
    fs.chmodSync(d, 0o777);
    const out = path.join(d, 'id');
    const u = sudoUser({ SUDO_USER: 'nobody', SUDO_UID: '65534', SUDO_GID: '65534' });
    const g = spawnGated('/bin/sh', ['-c', `id -u > ${out}; id -G >> ${out}; echo $HOME >> ${out}`], {
      stdio: 'pipe',
      user: u,
    });
    g.release();
    t.equal(exitStatus(await g.exited), 0);
    t.equal(fs.readFileSync(out, 'utf8'), '65534\n65534\n/nonexistent\n', "uid, no root groups, the user's HOME");
  },
);
