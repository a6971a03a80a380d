// libbpf reports its reasons (verifier output, missing kernel features, bad ELF) through a
// printf-style callback. We capture them so that a failure becomes one line naming the
// cause, instead of libbpf's default dump to stderr.
import koffi from 'koffi';
import { LIBBPF_DEBUG, LIBBPF_WARN, libbpf } from './libbpf.js';

const MAX_LINES = 400;
let lines: Array<{ level: number; text: string }> = [];
let installed = false;
let printCb: bigint | undefined;
const verbose = !!process.env.AGENTSIGHT_BPF_DEBUG;
const fmtBuf = Buffer.alloc(8192);

/** Install the capturing print callback (once per process). */
export function installLogger(): void {
  if (installed) return;
  installed = true;
  const lb = libbpf();
  printCb = koffi.register((level: number, fmt: string, ap: bigint) => {
    // The va_list is consumed by vsnprintf; it is valid only during this call.
    let n = lb.vsnprintf(fmtBuf, fmtBuf.length, fmt, ap) as number;
    if (n < 0) return 0;
    if (n >= fmtBuf.length) n = fmtBuf.length - 1;
    const text = fmtBuf.toString('utf8', 0, n);
    if (verbose) process.stderr.write(`libbpf: ${text}${text.endsWith('\n') ? '' : '\n'}`);
    if (level === LIBBPF_DEBUG) return 0;
    for (const l of text.split('\n')) {
      if (l.trim() === '') continue;
      lines.push({ level, text: l.trimEnd() });
    }
    if (lines.length > MAX_LINES) lines = lines.slice(-MAX_LINES);
    return 0;
  }, koffi.pointer(lb.PrintFn));
  lb.set_print(printCb);
}

/** Messages libbpf printed since the last call (warnings and info, not debug); clears them. */
export function takeLog(): string[] {
  const out = lines.map((l) => l.text);
  lines = [];
  return out;
}

/**
 * Pick the line that best explains a failure out of what libbpf printed: the verifier's
 * own last complaint when there is a verifier log, else libbpf's last warning.
 */
export function explain(log: string[]): string | undefined {
  const strip = (l: string) => l.replace(/^libbpf:\s*/, '').trim();
  // Verifier logs end with "processed N insns ..." preceded by the reason.
  const idx = log.findIndex((l) => /-- BEGIN PROG LOAD LOG --/.test(l));
  if (idx >= 0) {
    let end = log.findIndex((l, i) => i > idx && /-- END PROG LOAD LOG --/.test(l));
    if (end < 0) end = log.length;
    const body = log
      .slice(idx + 1, end)
      .filter((l) => !/^processed \d+ insns|^verification time|^stack depth|^\d+: |^;|^arg#|^\s*$/.test(l));
    const reason = body.pop();
    const prog = log[idx]!.match(/prog '([^']+)'/)?.[1];
    if (reason) return `verifier rejected${prog ? ` program ${prog}` : ''}: ${strip(reason)}`;
  }
  const warns = log.map(strip).filter((l) => l && !/^Error in bpf_create_map_xattr|^-- /.test(l));
  // A program the kernel refused without a verifier log (a hook it does not offer): that
  // line names the program; the object-level lines after it do not.
  return warns.find((l) => /^prog '[^']+': BPF program load failed/.test(l)) ?? warns.pop();
}

export { LIBBPF_WARN };
