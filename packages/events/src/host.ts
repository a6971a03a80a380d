// Which machine a capture comes from, the same wherever it is written down (a run's meta
// event, OTel's resource, a fleet store's rows): the host name people read and the machine
// id that stays put when the name does not (or when two hosts share one).
import fs from 'node:fs';
import os from 'node:os';

export interface HostIdentity {
  name: string;
  /** systemd's /etc/machine-id (dbus's copy on older systems); absent where there is none. */
  id?: string;
}

let cached: HostIdentity | undefined;

/** This host's identity (read once). */
export function hostIdentity(): HostIdentity {
  if (cached) return cached;
  cached = { name: os.hostname() };
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = fs.readFileSync(f, 'utf8').trim();
      if (/^[0-9a-f]{32}$/.test(id)) {
        cached.id = id;
        break;
      }
    } catch {
      /* the next place */
    }
  }
  return cached;
}
