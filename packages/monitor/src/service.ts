// `agentsight monitor install-service`: the monitor as a hardened systemd service. The unit
// grants the few capabilities capture needs (each justified below) instead of full root, and
// walls off everything else it does not need to write.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const UNIT_NAME = 'agentsight.service';
export const UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_DIR = '/var/lib/agentsight';

/**
 * The capabilities the monitor runs with, and why each: with these and no others (root's
 * remaining ones are dropped from the bounding set) it loads its programs, reads every
 * process's TLS, and stores. The unit's comments are made from this table. Not among them:
 * CAP_SYS_RESOURCE (raising RLIMIT_MEMLOCK for BPF maps on kernels before 5.11: the unit sets
 * LimitMEMLOCK=infinity instead, and later kernels charge maps to the memory cgroup) and
 * CAP_SYS_ADMIN (CAP_BPF and CAP_PERFMON cover loading and attaching since 5.8).
 */
export const CAPABILITIES: Array<[string, string]> = [
  ['CAP_BPF', 'load the BPF programs and maps, read their ring buffers'],
  ['CAP_PERFMON', 'attach uprobes and tracepoints, and read user memory from BPF (the plaintext)'],
  ['CAP_SYS_PTRACE', "read /proc/PID/maps, exe and root of other users' processes: which files carry their TLS"],
  ['CAP_DAC_READ_SEARCH', "read program files and libraries wherever they are (a user's 0700 home directory)"],
  ['CAP_KILL', 'resume (SIGCONT) a process of another user held at its exec while its program is looked at'],
];

export interface UnitOptions {
  /** The node binary and the agentsight tool it runs (absolute paths). */
  node: string;
  tool: string;
  /** Store directory (--dir). */
  dir?: string;
  /** More monitor arguments, as given to install-service. */
  args?: string[];
  memoryMax?: string;
  cpuQuota?: string;
  /** The unit's Documentation= (default man:agentsight(1); see documentation()). */
  doc?: string;
}

/**
 * Where the unit points for documentation: the installed man page (make install), else the
 * page in the checkout the tool runs from, so that the link works either way.
 */
export function documentation(manFile: string, installed = manInstalled()): string {
  return installed ? 'man:agentsight(1)' : `file://${manFile}`;
}

function manInstalled(): boolean {
  try {
    execFileSync('man', ['-w', 'agentsight'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

/** One ExecStart word, quoted when it needs to be (systemd.syntax(7)); `$` and `%` are taken literally. */
function word(s: string): string {
  const lit = s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(lit) ? lit : `"${lit.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The unit file's text. */
export function unitText(o: UnitOptions): string {
  const dir = o.dir ?? DEFAULT_DIR;
  const exec = [o.node, o.tool, 'monitor', '--dir', dir, ...(o.args ?? [])].map(word).join(' ');
  const caps = CAPABILITIES.map(([c]) => c).join(' ');
  return `# Written by \`agentsight monitor install-service\`; removed by \`agentsight monitor uninstall-service\`.
[Unit]
Description=agentsight monitor: every LLM agent on this host, captured from its first call
Documentation=${o.doc ?? 'man:agentsight(1)'}
After=network.target

[Service]
Type=simple
ExecStart=${exec}
Restart=on-failure
RestartSec=5s
# A usage error (2) or a missing privilege or kernel feature (77): restarting cannot help.
RestartPreventExitStatus=2 77
TimeoutStopSec=30s

# The store: ${dir} (0700, files 0600). Large programs' TLS locations are cached in
# /var/cache/agentsight so a restart does not scan them again.
StateDirectory=agentsight
StateDirectoryMode=0700
CacheDirectory=agentsight
CacheDirectoryMode=0700
ReadWritePaths=${word(dir)}
UMask=0077

# Capabilities: these and no more.
${CAPABILITIES.map(([c, why]) => `#   ${c.padEnd(20)} ${why}`).join('\n')}
# It runs as root (uid 0) with only these left in its bounding set.
CapabilityBoundingSet=${caps}
NoNewPrivileges=yes
# BPF maps are charged to the memory limit below (5.11+), and before that to RLIMIT_MEMLOCK:
# unlimited here rather than CAP_SYS_RESOURCE to raise it. Uprobe links are file descriptors,
# several per program hooked.
LimitMEMLOCK=infinity
LimitNOFILE=65536

# Read-only everywhere but the store. Agents live in home directories: their programs are
# read there, never written.
ProtectSystem=strict
ProtectHome=read-only
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
# The UI on loopback, the optional OTLP export; nothing else.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
# Not set, on purpose: PrivateTmp (a program under /tmp is hooked by its path, which must be
# the host's /tmp), ProtectProc=invisible or ProcSubset=pid (every process must be seen),
# MemoryDenyWriteExecute (node's JIT), PrivateNetwork (the UI and the export).

# A bound on what watching may cost the host.
MemoryMax=${o.memoryMax ?? '1G'}
CPUQuota=${o.cpuQuota ?? '100%'}
TasksMax=128

[Install]
WantedBy=multi-user.target
`;
}

/** Is systemd the init system here (the check sd_booted(3) makes)? */
export function systemdRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

export interface ServiceResult {
  path: string;
  /** systemctl commands run (none when systemd is not running, or with a unit directory given). */
  ran: string[][];
}

export type Systemctl = (args: string[]) => void;

const systemctl: Systemctl = (args) => {
  execFileSync('systemctl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

/**
 * Write the unit (0644) into `unitDir`; into the system's, also reload systemd and enable and
 * start the service when systemd runs here and `start` is not false.
 */
export function installService(o: UnitOptions & { unitDir?: string; start?: boolean; run?: Systemctl }): ServiceResult {
  const dir = o.unitDir ?? UNIT_DIR;
  const file = path.join(dir, UNIT_NAME);
  fs.writeFileSync(file, unitText(o), { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  const ran: string[][] = [];
  if (!o.unitDir && systemdRunning()) {
    const run = o.run ?? systemctl;
    for (const a of [['daemon-reload'], ...(o.start === false ? [] : [['enable', '--now', UNIT_NAME]])]) {
      run(a);
      ran.push(a);
    }
  }
  return { path: file, ran };
}

/**
 * Stop, disable and remove the unit. The store is kept (it is the history; remove the
 * directory to drop it). Returns null when no unit was installed.
 */
export function uninstallService(o: { unitDir?: string; run?: Systemctl } = {}): ServiceResult | null {
  const dir = o.unitDir ?? UNIT_DIR;
  const file = path.join(dir, UNIT_NAME);
  if (!fs.existsSync(file)) return null;
  const ran: string[][] = [];
  const run = o.run ?? systemctl;
  const systemd = !o.unitDir && systemdRunning();
  if (systemd) {
    const a = ['disable', '--now', UNIT_NAME];
    run(a);
    ran.push(a);
  }
  fs.rmSync(file);
  if (systemd) {
    run(['daemon-reload']);
    ran.push(['daemon-reload']);
  }
  return { path: file, ran };
}
