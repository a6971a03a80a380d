import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { acquireLock } from './lock.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('taken, released; a second taker is refused while the first holds it', async (t) => {
  const file = path.join(dir, 'a.pid');
  // A live process whose argv has the marker stands for another monitor.
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)', 'monitor'], { stdio: 'ignore' });
  t.teardown(() => other.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 200));
  fs.writeFileSync(file, `${other.pid}\n`);
  t.throws(() => acquireLock(file), { name: 'LockedError', pid: other.pid });
  t.throws(() => acquireLock(file), new RegExp(`pid ${other.pid}`));
  other.kill('SIGKILL');
  await new Promise((r) => other.once('exit', r));
  const release = acquireLock(file);
  t.equal(fs.readFileSync(file, 'utf8'), `${process.pid}\n`, 'a lock whose holder died is taken over');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  release();
  t.notOk(fs.existsSync(file), 'released');
});

t.test('a pid reused by a process that is no monitor does not hold the lock', async (t) => {
  const file = path.join(dir, 'b.pid');
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
  t.teardown(() => other.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 200));
  fs.writeFileSync(file, `${other.pid}\n`);
  const release = acquireLock(file);
  t.equal(fs.readFileSync(file, 'utf8'), `${process.pid}\n`);
  release();
  fs.writeFileSync(file, 'garbage');
  acquireLock(file)();
  t.notOk(fs.existsSync(file), 'a garbled lock is stale too');
});
