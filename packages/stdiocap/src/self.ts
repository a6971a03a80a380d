import type fs from 'node:fs';

/**
 * The identity of our stdout as bpf/stdiocap.bpf.c compares it (kernel dev_t and inode),
 * when it is a pipe or socket another process may read: that reader's reads are not
 * captured, or each event we write would come back as a new one without end. The kernel
 * dev_t is (major << 20) | minor; stat's st_dev is the glibc encoding.
 */
export function outputPipeIdentity(st: fs.Stats): { skip_dev: number; skip_ino: bigint } | Record<string, never> {
  if (!st.isFIFO() && !st.isSocket()) return {};
  const d = st.dev;
  const major = ((d >>> 8) & 0xfff) | (Math.floor(d / 2 ** 32) & ~0xfff);
  const minor = (d & 0xff) | ((d >>> 12) & 0xfff00);
  return { skip_dev: ((major << 20) | minor) >>> 0, skip_ino: BigInt(st.ino) };
}
