// A chrooted process: /proc/PID/maps (and pathwalk.h) name its files from the mount
// namespace's root, so /proc/PID/root in front would name the chroot twice.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { hostPath } from './hostpath.js';
import { mappedFiles } from './targets.js';

t.test('same root: the path as it is, or through /proc/PID/root', async (t) => {
  t.equal(hostPath(process.pid, '/usr/bin/x'), '/usr/bin/x');
  t.equal(hostPath(process.pid, '/usr/bin/x', 1n, { viaRoot: true }), `/proc/${process.pid}/root/usr/bin/x`);
  t.equal(hostPath(2 ** 22 + 4321, '/usr/bin/x'), '/usr/bin/x', 'gone: as it is');
});

const why =
  process.getuid?.() !== 0 ? 'chroot needs root' : !fs.existsSync('/usr/sbin/chroot') ? 'no chroot(8)' : false;
t.test('a chrooted process: its files by inode, not the chroot twice', { skip: why }, async (t) => {
  const jail = fs.mkdtempSync(path.join(os.tmpdir(), 'jail-'));
  t.teardown(() => fs.rmSync(jail, { recursive: true, force: true }));
  // /bin/sleep and what it loads, copied in (a static busybox is not always there).
  for (const f of ['/bin/sleep', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']) {
    fs.mkdirSync(path.join(jail, path.dirname(f)), { recursive: true });
    fs.copyFileSync(fs.realpathSync(f), path.join(jail, f));
    fs.chmodSync(path.join(jail, f), 0o755);
  }
  const child = spawn('/usr/sbin/chroot', [jail, '/bin/sleep', '30'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const pid = child.pid!;
  // Wait for the exec into the jail's sleep.
  for (let i = 0; i < 100 && !fs.readlinkSync(`/proc/${pid}/exe`).startsWith(jail); i++)
    await new Promise((r) => setTimeout(r, 20));
  const sleep = path.join(jail, 'bin/sleep');
  t.equal(fs.readlinkSync(`/proc/${pid}/root`), jail);
  const ino = fs.statSync(sleep, { bigint: true }).ino;
  // pathwalk.h names it from the namespace's root: the host path.
  t.equal(hostPath(pid, sleep, ino), sleep, 'the host path, not /proc/PID/root + the host path');
  t.equal(hostPath(pid, sleep), `/proc/${pid}/root${sleep}`, 'without the inode: the container reading');
  const files = mappedFiles(pid);
  t.ok(files.includes(sleep), `maps: the executable by its host path (${files.join(', ')})`);
  for (const f of files) t.ok(fs.existsSync(f), `${f} exists`);
});
