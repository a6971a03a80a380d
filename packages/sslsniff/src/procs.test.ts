import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { discoverRunning, pidsNamed } from './procs.js';

t.test('pidsNamed matches the process name as the kernel keeps it (15 bytes)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'procs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mk = (pid: string, comm: string | null) => {
    fs.mkdirSync(path.join(dir, pid));
    if (comm !== null) fs.writeFileSync(path.join(dir, pid, 'comm'), comm + '\n');
  };
  mk('10', 'claude');
  mk('11', 'node');
  mk('12', 'claude');
  mk('13', 'a-very-long-nam'); // the kernel cut "a-very-long-name-indeed"
  mk('14', null); // exited while we looked
  mk('self', 'claude');
  t.same(pidsNamed('claude', dir).sort(), [10, 12]);
  t.same(pidsNamed('a-very-long-name-indeed', dir), [13]);
  t.same(pidsNamed('bun', dir), []);
});

t.test('discoverRunning finds the TLS of a program started before it (a node child), each file once', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 300));
  const node = fs.realpathSync(process.execPath);
  const found = discoverRunning().filter((x) => {
    try {
      return fs.realpathSync(x.path) === node;
    } catch {
      return false;
    }
  });
  t.equal(found.length, 1, 'the node binary, once');
  t.ok(
    found[0]!.symbols.some((s) => s.name === 'SSL_write'),
    'with SSL_write',
  );
});
