#!/usr/bin/env node
// A filter tool that passes every event through unchanged: the shared CLI machinery
// (runTool + runFilter) with nothing else, so its behaviour can be tested as a real
// spawned process independently of any one tool's logic.
import { runFilter, runTool } from '@agentsight/cli';

await runTool(
  { name: 'as-identity', summary: 'pass events through', readsEvents: true, usage: 'as-identity [FILE...]' },
  async (args, ctx) => {
    let n = 0;
    ctx.onStop(() => {
      ctx.summary.push(`${n} events`);
    });
    await runFilter(args, ctx, {
      write: (ev) => {
        n++;
        ctx.out.write(ev);
      },
      end: () => {},
    });
  },
);
