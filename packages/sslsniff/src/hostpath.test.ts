// A chrooted process: /proc/PID/maps (and pathwalk.h) name its files from the mount
// namespace's root, so /proc/PID/root in front would name the chroot twice.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { hostPath, sharesOurRoot } from './hostpath.js';
import { mappedFiles } from './targets.js';

t.test('same root: the path as it is, or through /proc/PID/root', async (t) => {
  t.equal(hostPath(process.pid, '/usr/bin/x'), '/usr/bin/x');
  t.equal(hostPath(process.pid, '/usr/bin/x', 1n, { viaRoot: true }), `/proc/${process.pid}/root/usr/bin/x`);
  t.equal(hostPath(2 ** 22 + 4321, '/usr/bin/x'), '/usr/bin/x', 'gone: as it is');
});

/** A root directory holding /bin/sleep and what it loads, copied in (a static busybox is not always there). */
function sleepRoot(t: Test, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of ['/bin/sleep', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']) {
    fs.mkdirSync(path.join(dir, path.dirname(f)), { recursive: true });
    fs.copyFileSync(fs.realpathSync(f), path.join(dir, f));
    fs.chmodSync(path.join(dir, f), 0o755);
  }
  return dir;
}

const why =
  process.getuid?.() !== 0 ? 'chroot needs root' : !fs.existsSync('/usr/sbin/chroot') ? 'no chroot(8)' : false;
t.test('a chrooted process: its files by inode, not the chroot twice', { skip: why }, async (t) => {
  const jail = sleepRoot(t, 'jail-');
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

const whyPivot =
  why ||
  (!fs.existsSync('/usr/bin/unshare') || !fs.existsSync('/usr/sbin/pivot_root')
    ? 'no unshare(1) or pivot_root(8)'
    : false);
t.test(
  'a process that pivot_root-ed in a mount namespace of its own (runc, crun): "/" that is not ours',
  { skip: whyPivot },
  async (t) => {
    t.equal(sharesOurRoot(process.pid), true);
    t.equal(sharesOurRoot(2 ** 22 + 4321), undefined, 'gone');
    const jail = sleepRoot(t, 'pivot-');
    fs.mkdirSync(path.join(jail, 'old'));
    const child = spawn(
      '/usr/bin/unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '/bin/sh',
        '-c',
        `mount --bind ${jail} ${jail} && cd ${jail} && pivot_root . old && exec /bin/sleep 30`,
      ],
      { stdio: 'ignore' },
    );
    t.teardown(() => child.kill('SIGKILL'));
    const pid = child.pid!;
    const ino = fs.statSync(path.join(jail, 'bin/sleep'), { bigint: true }).ino;
    for (let i = 0; i < 100; i++) {
      try {
        if (fs.statSync(`/proc/${pid}/exe`, { bigint: true }).ino === ino) break;
      } catch {
        /* not yet */
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    t.equal(fs.readlinkSync(`/proc/${pid}/root`), '/', 'the link reads as ours');
    t.equal(sharesOurRoot(pid), false, 'but it is another directory');
    t.equal(hostPath(pid, '/bin/sleep', ino), `/proc/${pid}/root/bin/sleep`, 'its file, not the host /bin/sleep');
  },
);
