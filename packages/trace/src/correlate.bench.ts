// CorrelateStage throughput on a machine-wide stream: agents running tool calls (two in
// parallel per turn, each a shell with children that open files) amid unrelated processes
// of the rest of the machine, as `as-proc` without -p gives them. Reports events/s, the
// time a decision takes, and memory.
import type { AgentEvent } from '@agentsight/events';
import { CorrelateStage } from './correlate.js';
import { connect, exec, exit, fork, llmCall, open, T0 } from './testing.js';

const MS = 1000;

function stream(agents: number, turns: number, noisePerTurn: number): AgentEvent[] {
  const evs: AgentEvent[] = [];
  let pid = 10_000;
  for (let a = 0; a < agents; a++) evs.push(exec(100 + a, 1, ['node', 'agent.js'], T0 - 1000 * MS, `/proj${a}`));
  for (let turn = 0; turn < turns; turn++) {
    const base = T0 + turn * 1000 * MS;
    for (let a = 0; a < agents; a++) {
      const ag = 100 + a;
      const hist = turn
        ? [
            {
              role: 'user',
              content: [
                { type: 'tool_result', tool_use_id: `t${a}-${turn - 1}-0`, content: 'ok' },
                { type: 'tool_result', tool_use_id: `t${a}-${turn - 1}-1`, content: 'ok' },
              ],
            },
          ]
        : [];
      evs.push(
        llmCall({
          pid: ag,
          id: `c${a}-${turn}`,
          start: base + a * MS,
          end: base + 100 * MS + a * MS,
          messages: hist,
          toolCalls: [0, 1].map((k) => ({
            id: `t${a}-${turn}-${k}`,
            name: 'bash',
            arguments: { command: `make -C src${k} all && ls out${k}` },
          })),
        }),
      );
      for (let k = 0; k < 2; k++) {
        const sh = pid++;
        const t0 = base + 200 * MS + a * 10 * MS + k * MS;
        evs.push(fork(sh, ag, t0), exec(sh, ag, ['/bin/sh', '-c', `make -C src${k} all && ls out${k}`], t0 + 1));
        for (const [j, argv] of [
          ['make', '-C', `src${k}`, 'all'],
          ['cc', '-c', `src${k}/a.c`],
          ['ls', `out${k}`],
        ].entries()) {
          const c = pid++;
          evs.push(fork(c, sh, t0 + 2 + j), exec(c, sh, argv, t0 + 3 + j, `/proj${a}`));
          for (let f = 0; f < 20; f++) evs.push(open(c, `/proj${a}/src${k}/f${f}.c`, t0 + 4 + j));
          evs.push(exit(c, t0 + 50 + j));
        }
        evs.push(connect(sh, '127.0.0.1', 8080, t0 + 60), exit(sh, t0 + 70));
      }
    }
    // The rest of the machine.
    for (let n = 0; n < noisePerTurn; n++) {
      const p = pid++;
      const t0 = base + 300 * MS + n;
      evs.push(
        fork(p, 1, t0),
        exec(p, 1, ['/usr/bin/cron-job', String(n)], t0 + 1),
        open(p, '/var/log/syslog', t0 + 2, 1),
        exit(p, t0 + 3),
      );
    }
  }
  return evs.sort((x, y) => x.ts - y.ts);
}

function runOnce(label: string, agents: number, turns: number, noise: number): void {
  const evs = stream(agents, turns, noise);
  globalThis.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  let links = 0;
  // Kept alive until after the measurement: the heap figure is the stage's state.
  const s = new CorrelateStage({}, (e) => {
    if (e.src === 'trace') links++;
  });
  const t0 = process.hrtime.bigint();
  for (const e of evs) s.write(e);
  s.end();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  globalThis.gc?.();
  const heap = (process.memoryUsage().heapUsed - heap0) / 1048576;
  const decisions = agents * turns;
  process.stdout.write(
    `${label}: ${evs.length} events in ${ms.toFixed(0)} ms = ${Math.round(evs.length / (ms / 1000)).toLocaleString('en')} events/s; ` +
      `${decisions} decisions (${links} trace events), ${s.held.procs} processes held, state ${heap.toFixed(1)} MiB after GC\n`,
  );
}

runOnce('4 agents, 100 turns, quiet machine     ', 4, 100, 10);
runOnce('8 agents, 200 turns, 200 procs/s noise ', 8, 200, 200);
runOnce('2 agents, 100 turns, 2000 procs/s noise', 2, 100, 2000);
process.stdout.write(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB\n`);
