// Codex (static musl, rustls over aws-lc, no SSL_* anywhere), end to end, as root with real
// eBPF, on two releases (Makefile CODEX_PKG and CODEX_NEW_PKG), each started as its native
// binary and through its npm launcher (node spawning the binary), against the mock LLM over
// HTTPS (Responses API over SSE, and over WebSocket). as-sslsniff finds aws-lc's AEAD seal/open in the stripped
// binary (packages/sslsniff/src/awslc.ts) and captures each TLS record's plaintext both
// ways; every model call must merge into one llm/call equal to what the mock served, with
// the request the mock received (lib/agent-checks.ts, the checks every agent passes), both
// through the standalone tools and through `agentsight exec`.

import fs from 'node:fs';
import { analyseAwsLcAead, ElfFile } from '@agentsight/sslsniff';
import t from 'tap';
import { checkSession } from './lib/agent-checks.js';
import { type CodexRelease, codex, codexBin, codexVersion, execAgent, SESSION, traceAgent } from './lib/agents.js';
import { runTool, toolPath } from './lib/run.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { kernelSkipReason } from './sslsniff-helpers.js';

const RELEASES: CodexRelease[] = ['pinned', 'new'];

for (const r of RELEASES) {
  const bin = codexBin(r);
  const version = codexVersion(r);
  const missing = fs.existsSync(bin) ? null : `MISSING ${bin}: run \`make agents\``;
  if (missing) t.comment(`SKIP codex ${r}: ${missing}`);
  t.test(
    `codex ${version ?? r}: --list-targets finds aws-lc's AEAD seal and open`,
    { skip: missing ?? false, timeout: 120_000 },
    async (t) => {
      const res = await runTool('as-sslsniff', ['--binary-path', bin, '--list-targets'], { timeoutMs: 100_000 });
      t.equal(res.code, 0, `exit 0: ${res.stderr.trim()}`);
      t.match(
        res.stdout,
        /: rustls \(rustls-0\.23\.\d+, aws-lc-rs-[\d.]+: aws-lc AEAD functions located by the errors they raise with aead\.c, extents from eh_frame\)/,
        'what was found, and how',
      );
      for (const f of [
        'EVP_AEAD_CTX_seal',
        'EVP_AEAD_CTX_seal_scatter',
        'EVP_AEAD_CTX_open',
        'EVP_AEAD_CTX_open_gather',
      ])
        t.match(res.stdout, new RegExp(`\\n  ${f} +offset 0x[0-9a-f]+ +heuristic`), f);

      // The evidence itself: each role's errors and aead.c lines, in the file's order.
      const elf = ElfFile.open(bin);
      t.teardown(() => elf.close());
      const a = analyseAwsLcAead(elf)!;
      t.equal(a.files.length, 1, 'one aead.c file string');
      t.equal(a.note, undefined, 'no ambiguity');
      const fns = Object.values(a.found).map((v) => a.functions.find((f) => f.start === v)!);
      t.equal(fns.length, 4, 'four entry points');
      const firstLines = fns.map((f) => Math.min(...f.lines));
      t.same(
        firstLines,
        [...firstLines].sort((x, y) => x - y),
        `aead.c lines in the file's order (${firstLines})`,
      );
      t.ok(
        fns.every((f) => f.bounds === 'eh_frame'),
        'extents from .eh_frame',
      );
    },
  );
}

const why = kernelSkipReason() || procSkipReason(['proc.bpf.o']);
if (why) {
  t.test('codex captured end to end', { skip: `kernel test: ${why}` }, async () => {});
} else {
  for (const r of RELEASES)
    for (const [launcher, websocket] of [
      [false, false],
      [true, false],
      [false, true],
    ]) {
      const agent = codex({ release: r, launcher, websocket });
      const un = agent.available();
      if (un) t.comment(`SKIP ${agent.name}: ${un}`);
      const what = `codex ${codexVersion(r) ?? r}${launcher ? ' (npm launcher)' : ''}${websocket ? ' over WebSocket' : ''}`;
      t.test(
        `${what}, standalone tools: every call both ways, tool process and file write`,
        { skip: un ?? false, timeout: 180_000 },
        async (t) => {
          const s = await traceAgent(agent, SESSION.turns(agent), { prompt: SESSION.prompt, timeoutMs: 120_000 });
          t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
          checkSession(t, s);
          t.ok(
            s.ssl.some((e) => e.type === 'data' && e.dir === 'read' && e.lib === 'rustls'),
            'responses read (the open side)',
          );
        },
      );
      t.test(
        `agentsight exec -- ${what}: every call, tool process and file write`,
        { skip: un ?? (fs.existsSync(toolPath('agentsight')) ? false : 'agentsight not built'), timeout: 180_000 },
        async (t) => {
          const s = await execAgent(agent, SESSION.turns(agent), { prompt: SESSION.prompt, timeoutMs: 120_000 });
          t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
          t.ok(s.pid > 0, `the agent's exec is in the capture (pid ${s.pid})`);
          t.notMatch(s.stderr, /TLS cannot be captured/, 'no "not captured" warning');
          // Named on the command line, the binary is hooked at start; under the launcher, when
          // node execs it (held until then).
          if (launcher)
            t.match(
              s.stderr,
              /codex: rustls TLS hooked, 4 functions \(exec'd by \S+ pid \d+/,
              "the binary hooked when node exec'd it",
            );
          else t.match(s.stderr, /TLS in codex \(rustls\)/, 'the binary hooked at start');
          checkSession(t, s);
        },
      );
    }
}
