// One monitor per store: two would capture the same events and store each twice. The lock is
// a pid file beside the store; one left by a monitor that was killed (kill -9, a crash) names
// a process that is gone, or one that is no monitor (the pid was reused), and is taken over.
import fs from 'node:fs';

export class LockedError extends Error {
  constructor(
    readonly file: string,
    readonly pid: number,
  ) {
    super(`another monitor (pid ${pid}) uses this store (${file})`);
    this.name = 'LockedError';
  }
}

/** Is `pid` a running process whose command line contains `marker`? */
function holds(pid: number, marker: string, procDir: string): boolean {
  try {
    return fs.readFileSync(`${procDir}/${pid}/cmdline`, 'utf8').split('\0').includes(marker);
  } catch {
    return false;
  }
}

/**
 * Take the lock `file` for this process; throws LockedError while a live process whose argv
 * has `marker` holds it. Returns the release.
 */
export function acquireLock(file: string, marker = 'monitor', procDir = '/proc'): () => void {
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
    }
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    if (Number.isSafeInteger(pid) && pid !== process.pid && holds(pid, marker, procDir))
      throw new LockedError(file, pid);
    // Stale: its holder is gone. Removed, then created afresh by the exclusive create above.
    fs.rmSync(file, { force: true });
  }
  return () => {
    try {
      if (Number.parseInt(fs.readFileSync(file, 'utf8'), 10) === process.pid) fs.rmSync(file);
    } catch {
      /* gone already */
    }
  };
}
