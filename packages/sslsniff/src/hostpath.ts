// Where the host finds a file another process names (see hostPath).
import fs from 'node:fs';

/**
 * The host path of a file a process runs or maps. A process in another mount namespace (a
 * container) names it from that namespace's root: the host reaches it through
 * /proc/PID/root. A chrooted process in ours names it from the namespace's root already
 * (pathwalk.h and /proc/PID/maps stop there, not at the chroot): /proc/PID/root would add
 * the chroot a second time (in another namespace, the chroot's part comes off). The file's inode, when known, says which; without it (or when
 * neither matches, e.g. overlayfs reporting its lower file's inode) the container reading.
 * When the process shares our root: the path as it is (readable in attach events), or with
 * `viaRoot` through /proc/PID/root all the same.
 */
export function hostPath(pid: number, path: string, ino?: bigint, opts: { viaRoot?: boolean } = {}): string {
  let root: string;
  try {
    root = fs.readlinkSync(`/proc/${pid}/root`);
  } catch {
    return path; // gone: the host's view is all there is
  }
  if (root === '/' && sharesOurRoot(pid) !== false) return opts.viaRoot ? `/proc/${pid}/root${path}` : path;
  const inRoot = `/proc/${pid}/root${path}`;
  // A chroot in another mount namespace: the path from that namespace's root starts with
  // the chroot's, which /proc/PID/root already is.
  const inChroot = path.startsWith(`${root}/`) ? `/proc/${pid}/root${path.slice(root.length)}` : undefined;
  if (ino !== undefined)
    for (const p of [inRoot, path, inChroot]) {
      if (p === undefined) continue;
      try {
        if (fs.statSync(p, { bigint: true }).ino === ino) return p;
      } catch {
        /* not there */
      }
    }
  return inRoot;
}

/**
 * Does `pid` see the same root directory as we do? Not by /proc/PID/root's link text: a
 * container entered by pivot_root in its own mount namespace (runc, crun) reads "/" there
 * too. By identity. Undefined when the process is gone.
 */
export function sharesOurRoot(pid: number): boolean | undefined {
  try {
    const theirs = fs.statSync(`/proc/${pid}/root`);
    const ours = fs.statSync('/');
    return theirs.dev === ours.dev && theirs.ino === ours.ino;
  } catch {
    return undefined;
  }
}
