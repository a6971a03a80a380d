import t from 'tap';
import { absolutise, foldGroup } from './paths.js';

t.test('absolutise: absolute, relative to the kernel base, to the fallback cwd', async (t) => {
  t.equal(absolutise({ path: '/etc/./hosts', relative: false }), '/etc/hosts');
  t.equal(absolutise({ path: '../x/y.txt', relative: true, base: '/home/a/src' }), '/home/a/x/y.txt');
  t.equal(absolutise({ path: 'y.txt', relative: true }, '/srv'), '/srv/y.txt', 'kernel walk failed: last known cwd');
  t.equal(absolutise({ path: 'y.txt', relative: true }), 'y.txt', 'nothing to resolve against: left as given');
  t.equal(
    absolutise({ path: '', relative: true, base: '/proc/self/fd' }),
    '/proc/self/fd',
    'AT_EMPTY_PATH names the dir',
  );
  t.equal(absolutise({ path: 'a', relative: true, base: '/' }), '/a');
});

t.test('fold groups: /proc, /sys, loader, locale; writes never folded', async (t) => {
  t.equal(foldGroup('/proc/self/maps', 0), '/proc');
  t.equal(foldGroup('/proc', 0), '/proc');
  t.equal(foldGroup('/processes.txt', 0), null, 'a prefix of a name is not a directory');
  t.equal(foldGroup('/sys/devices/system/cpu/online', 0), '/sys');
  t.equal(foldGroup('/etc/ld.so.cache', 0o2000000), '/etc/ld.so.cache');
  t.equal(foldGroup('/lib/x86_64-linux-gnu/libc.so.6', 0o2000000), '/lib/x86_64-linux-gnu');
  t.equal(foldGroup('/usr/lib/x86_64-linux-gnu/libssl.so.3', 0), '/usr/lib/x86_64-linux-gnu');
  t.equal(foldGroup('/usr/lib/locale/C.utf8/LC_CTYPE', 0), '/usr/lib/locale');
  t.equal(foldGroup('/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache', 0), '/usr/lib/x86_64-linux-gnu/gconv');
  t.equal(foldGroup('/home/me/build/libfoo.so', 1), null, 'a library being written is an action');
  t.equal(foldGroup('/home/me/notes.txt', 0), null);
  t.equal(foldGroup('/sys/fs/cgroup/x', 1), '/sys', '/proc and /sys are folded even when written');
});
