#!/usr/bin/env node
// agentsight: the whole pipeline in one command (exec, record) and answers from a
// capture (report). Argument parsing and wiring only; the logic lives in packages/.
import fs from 'node:fs';
import { runTool, openInput, ToolError, EXIT } from '@agentsight/cli';
import { readEvents } from '@agentsight/events';
import { Report, DEFAULT_PRICES, summaryLines, formatTokens, formatAudit, formatPrompts, type PriceTable } from '@agentsight/report';

interface Args {
  mode?: string;
  files?: string[];
  json: boolean;
  by?: string;
  prices?: string;
}

function loadPrices(file: string | undefined): PriceTable {
  const f = file ?? process.env.AGENTSIGHT_PRICES;
  if (!f) return DEFAULT_PRICES;
  try {
    return { ...DEFAULT_PRICES, ...(JSON.parse(fs.readFileSync(f, 'utf8')) as PriceTable) };
  } catch (e) {
    throw new ToolError(`--prices ${f}: ${(e as Error).message}`, EXIT.USAGE);
  }
}

await runTool<Args>({
  name: 'agentsight',
  summary: 'trace an agent end to end, or answer questions from a capture',
  usage: 'agentsight <exec|record|report> [options] …',
  readsEvents: true,
  examples: [
    ['sudo agentsight exec -- claude -p "fix the build"', 'run an agent traced; writes a capture and serves the UI'],
    ['agentsight report tokens cap.ndjson', 'tokens and estimated cost by model, provider, process and day'],
    ['agentsight report audit --json cap.ndjson | jq .hosts', 'every process run, file written and host contacted'],
  ],
  options: (y) => y
    .command('report [mode] [files..]', 'answers from a capture: summary, tokens, audit, prompts', (c) => c
      .positional('mode', { choices: ['summary', 'tokens', 'audit', 'prompts'], default: 'summary' })
      .positional('files', { type: 'string', array: true }))
    .command('exec', 'run an agent with tracing attached (coming: issue #10)')
    .command('record', 'trace an agent started elsewhere (coming: issue #10)')
    .option('json', { type: 'boolean', default: false, describe: 'report: machine-readable JSON instead of tables' })
    .option('by', { choices: ['model', 'provider', 'process', 'day'], describe: 'report tokens: one grouping only' })
    .option('prices', { type: 'string', describe: 'report: JSON price table (USD per 1M tokens by model prefix) merged over the defaults' })
    .demandCommand(1, 'say what to do: exec, record or report') as never,
}, async (args, ctx) => {
  const cmd = String(args._[0]);
  if (cmd !== 'report') throw new ToolError(`'${cmd}' is not built yet (issue #10)`, EXIT.USAGE);
  const files = args.files ?? [];
  if (!files.length) files.push('-');
  const report = new Report(loadPrices(args.prices));
  for (const f of files) {
    let input;
    try { input = openInput(f); } catch (e) { throw new ToolError(`${f}: ${(e as Error).message}`); }
    try {
      await readEvents(input, (ev) => report.add(ev), { name: f === '-' ? '<stdin>' : f, strict: args.strict });
    } catch (e) {
      throw new ToolError((e as Error).message);
    }
  }
  const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
  const mode = args.mode ?? 'summary';
  const groupings = (args.by ? [args.by] : ['model', 'provider', 'process', 'day']) as Array<'model' | 'provider' | 'process' | 'day'>;
  if (args.json) {
    const data =
      mode === 'summary' ? report.summary()
      : mode === 'tokens' ? Object.fromEntries(groupings.map((g) => [g, report.tokens(g)]))
      : mode === 'audit' ? report.audit()
      : report.prompts();
    out(JSON.stringify(data, null, process.stdout.isTTY ? 2 : 0));
  } else if (mode === 'summary') out(summaryLines(report.summary()).join('\n'));
  else if (mode === 'tokens') out(groupings.map((g) => formatTokens(report.tokens(g), g)).join('\n\n') + '\n\nCosts are estimates from list prices (see agentsight(1), --prices).');
  else if (mode === 'audit') out(formatAudit(report));
  else out(formatPrompts(report));
  void ctx;
});
