// Scoring: how well a process subtree matches what a tool call said it would do, from its
// command line, the paths it names and the hosts it connects to. The correlator gives each
// new subtree to the tool call that scores best.
import type { Intent } from './intent.js';
import { resolveArgPath } from './paths.js';
import type { Proc } from './procs.js';

/** Confidence weights: started under the agent, in the window, matching the arguments. */
export const W_LINEAGE = 0.25;
export const W_TIME = 0.15;
export const W_ARGS = 0.6;

/** Tool names that start programs even when no command is in their arguments. */
export const RUNS_PROGRAMS = /bash|shell|exec|terminal|command|run|test|build|script|spawn|process/i;

export const basename = (s: string) => s.slice(s.lastIndexOf('/') + 1);
export const normAddr = (a: string) => a.replace(/^::ffff:/i, '').toLowerCase();

/** Whether `cmd` appears in `arg` as a whole (not `ls` inside `tools`). */
export function containsWhole(arg: string, cmd: string): boolean {
  if (cmd.length < 2) return false;
  for (let i = arg.indexOf(cmd); i >= 0; i = arg.indexOf(cmd, i + 1)) {
    const before = i === 0 ? '' : arg[i - 1]!;
    const after = arg[i + cmd.length] ?? '';
    if (!/[\w./-]/.test(before) && !/[\w./-]/.test(after)) return true;
  }
  return false;
}

export interface Score {
  /** 0..1. */
  score: number;
  reasons: string[];
  /** How well the command line alone matched, 0..1. */
  cmd: number;
}

/** How well a process subtree matches what a tool call said, 0..1, and why. Relative
 * paths resolve against the agent's directory `cwd` and the processes' own. */
export function scoreProcs(it: Intent, procs: Proc[], cwd: string | undefined, home: string): Score {
  let cmd = 0;
  const reasons: string[] = [];
  if (it.commands.length) {
    const cmdTok = new Set<string>();
    for (const w of it.tokens) {
      cmdTok.add(w);
      cmdTok.add(basename(w));
    }
    for (const p of procs) {
      if (p.argv.slice(1).some((x) => it.commands.includes(x.trim()))) {
        cmd = 1;
        break;
      }
      // Agents that wrap the command (Claude Code: bash -c "… eval 'CMD' …") keep it whole inside.
      if (p.argv.slice(1).some((x) => it.commands.some((c) => containsWhole(x, c)))) {
        cmd = Math.max(cmd, 0.9);
        continue;
      }
      if (!p.argv.length) continue;
      const words = [basename(p.argv[0]!), ...p.argv.slice(1)].filter((w) => w !== '');
      // The program itself must be named in the command: sharing a file name is not enough.
      if (!cmdTok.has(words[0]!)) continue;
      const f = words.filter((w) => cmdTok.has(w)).length / words.length;
      cmd = Math.max(cmd, f);
    }
    if (cmd === 1) reasons.push('argv=command');
    else if (cmd === 0.9) reasons.push('argv>command');
    else if (cmd > 0) reasons.push('argv~command');
  }
  let pathHit = 0;
  if (it.paths.length) {
    const want = new Set<string>();
    for (const p of it.paths) {
      for (const dir of new Set([cwd, ...procs.map((x) => x.cwd)])) {
        const r = resolveArgPath(p, dir, home);
        if (r) want.add(r);
      }
    }
    if (procs.some((p) => p.files.some((f) => want.has(f.path) || (f.to !== undefined && want.has(f.to))))) {
      pathHit = 1;
      reasons.push('path');
    }
  }
  let netHit = 0;
  if (it.hosts.length || it.urls.length) {
    const hosts = new Set(it.hosts);
    if (hosts.has('localhost')) {
      hosts.add('127.0.0.1');
      hosts.add('::1');
    }
    const ports = new Set(
      it.urls.map((u) => {
        try {
          const x = new URL(u);
          return Number(x.port || (x.protocol === 'https:' ? 443 : 80));
        } catch {
          return -1;
        }
      }),
    );
    if (
      procs.some((p) =>
        p.net.some(
          (n) =>
            n.type === 'connect' &&
            n.addr !== undefined &&
            hosts.has(normAddr(n.addr)) &&
            (ports.size === 0 || n.port === undefined || ports.has(n.port)),
        ),
      )
    ) {
      netHit = 1;
      reasons.push('connect');
    }
  }
  return { score: Math.max(cmd, 0.8 * pathHit, 0.6 * netHit), reasons, cmd };
}
