// The terminal UI, on Ink (React for the terminal): it owns raw mode, the cursor, redraws
// and restoring the terminal, so no escape sequence is written here. The tables are the
// ones --plain prints (table.ts); this adds the keys.
import { Box, render, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useState } from 'react';
import type { Snapshot } from './schema.js';
import {
  pad,
  type SortKey,
  sortFor,
  sortKeysOf,
  sortRows,
  sourceLine,
  table,
  totalsLine,
  VIEWS,
  type ViewName,
} from './table.js';

export interface TuiProps {
  snapshot: () => Snapshot;
  /** Called when the data changed; returns the unsubscribe. */
  subscribe: (fn: () => void) => () => void;
  notes: () => string[];
  view: ViewName;
  sort?: SortKey;
  reverse: boolean;
  onQuit: () => void;
}

/** Keys that pick a view. */
const VIEW_KEYS: Record<string, ViewName> = { a: 'agents', p: 'processes', f: 'files', n: 'network', m: 'models' };
/** Keys that pick a sort (top's P and M for CPU and memory). */
const SORT_KEYS: Record<string, SortKey> = {
  c: 'cost',
  t: 'tokens',
  k: 'calls',
  e: 'errors',
  P: 'cpu',
  M: 'rss',
  l: 'recent',
  o: 'opens',
  w: 'writes',
};
const HELP =
  'a p f n m / Tab: view   s S < >: sort   c t k e P M l o w: sort by cost tokens calls errors cpu rss last opens writes   r: reverse   ↑↓ PgUp PgDn: scroll   q: quit';

/** Re-render at most this often, however fast events arrive. */
const FRAME_MS = 200;

export function TopApp(props: TuiProps) {
  const { stdout } = useStdout();
  const { exit } = useApp();
  const [, setTick] = useState(0);
  const [view, setView] = useState<ViewName>(props.view);
  const [sorts, setSorts] = useState(
    () => Object.fromEntries(VIEWS.map((v) => [v, sortFor(v, props.sort)])) as Record<ViewName, SortKey>,
  );
  const [reverse, setReverse] = useState(props.reverse);
  const [scroll, setScroll] = useState(0);
  const [message, setMessage] = useState('');

  useEffect(() => {
    let pending: NodeJS.Timeout | undefined;
    const unsubscribe = props.subscribe(() => {
      pending ??= setTimeout(() => {
        pending = undefined;
        setTick((t) => t + 1);
      }, FRAME_MS);
    });
    return () => {
      unsubscribe();
      if (pending) clearTimeout(pending);
    };
  }, [props.subscribe]);
  useEffect(() => {
    const resized = () => setTick((t) => t + 1);
    stdout.on('resize', resized);
    return () => {
      stdout.off('resize', resized);
    };
  }, [stdout]);

  const height = stdout.rows || 24;
  const width = stdout.columns || 80;
  const bodyRows = Math.max(1, height - 6);
  const quit = () => {
    props.onQuit();
    exit();
  };
  const setSort = (key: SortKey) => {
    if (!sortKeysOf(view).includes(key)) {
      setMessage(`${view} cannot be sorted by ${key}`);
      return;
    }
    setMessage('');
    setSorts((s) => ({ ...s, [view]: key }));
    setScroll(0);
  };
  const switchView = (v: ViewName) => {
    setView(v);
    setScroll(0);
    setMessage('');
  };

  useInput((input, key) => {
    if (input === 'q' || key.escape || (key.ctrl && input === 'c')) return quit();
    if (key.tab) {
      const i = VIEWS.indexOf(view);
      return switchView(VIEWS[(i + (key.shift ? VIEWS.length - 1 : 1)) % VIEWS.length]!);
    }
    const v = VIEW_KEYS[input] ?? (/^[1-5]$/.test(input) ? VIEWS[Number(input) - 1] : undefined);
    if (v) return switchView(v);
    if (input === 's' || input === 'S' || input === '>' || input === '<') {
      const keys = sortKeysOf(view);
      const step = input === 's' || input === '>' ? 1 : keys.length - 1;
      return setSort(keys[(keys.indexOf(sorts[view]) + step) % keys.length]!);
    }
    const k = SORT_KEYS[input];
    if (k) return setSort(k);
    if (input === 'r') return setReverse((r) => !r);
    if (input === '?' || input === 'h') return setMessage(message === HELP ? '' : HELP);
    if (key.downArrow) return setScroll((s) => s + 1);
    if (key.upArrow) return setScroll((s) => Math.max(0, s - 1));
    if (key.pageDown) return setScroll((s) => s + bodyRows);
    if (key.pageUp) return setScroll((s) => Math.max(0, s - bodyRows));
  });

  const snap = props.snapshot();
  const sort = sorts[view];
  const rows = sortRows(view, snap[view] as never[], sort, reverse);
  const t = table(view, rows, { sort, now: snap.ts, width });
  const top = Math.min(scroll, Math.max(0, t.lines.length - bodyRows));
  const visible = t.lines.slice(top, top + bodyRows);
  const cell = (text: string, i: number, n: number) => pad(text, t.widths[i]!, t.aligns[i]!, i === n - 1);
  const notes = props.notes();
  const footer =
    message ||
    (notes.length ? `! ${notes[notes.length - 1]}` : '') ||
    `${view} by ${sort}${reverse ? ' (reversed)' : ''}  ${top + 1}-${top + visible.length}/${t.lines.length}   ? help  q quit`;

  return (
    <Box flexDirection="column">
      <Text wrap="truncate">{sourceLine(snap)}</Text>
      <Text wrap="truncate">{totalsLine(snap)}</Text>
      <Text wrap="truncate">
        {VIEWS.map((v) => (
          <Text key={v} inverse={v === view}>
            {` ${v[0]}:${v} `}
          </Text>
        ))}
      </Text>
      <Text wrap="truncate" bold>
        {t.header.map((h, i) => (
          <Text key={h.text} underline={h.sorted} color={h.sorted ? 'cyan' : undefined}>
            {cell(h.text, i, t.header.length) + (i < t.header.length - 1 ? ' ' : '')}
          </Text>
        ))}
      </Text>
      {visible.map((l, r) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: a row here is a line of the screen, not a record
        <Text key={r} wrap="truncate">
          {l.map((c, i) => cell(c, i, l.length)).join(' ')}
        </Text>
      ))}
      {visible.length === 0 ? <Text dimColor>{emptyText(view, snap)}</Text> : null}
      <Text wrap="truncate" dimColor>
        {footer}
      </Text>
    </Box>
  );
}

function emptyText(view: ViewName, s: Snapshot): string {
  if (s.totals.agents === 0) return 'no agent yet: a process shows here from its first LLM call';
  return `nothing in ${view} yet`;
}

/** Runs the UI until q (or Ctrl-C at the keyboard) or `stopped`; the terminal is restored either way. */
export async function runTui(
  o: Omit<TuiProps, 'onQuit'> & {
    out: NodeJS.WriteStream;
    stdin: NodeJS.ReadStream;
    stopped: Promise<unknown>;
  },
): Promise<void> {
  let quit!: () => void;
  const quitted = new Promise<void>((r) => {
    quit = r;
  });
  const app = render(<TopApp {...o} onQuit={quit} />, {
    stdout: o.out,
    stdin: o.stdin,
    // Ctrl-C is a key like q here (raw mode); a SIGINT from elsewhere arrives as `stopped`.
    exitOnCtrlC: false,
    patchConsole: false,
  });
  await Promise.race([quitted, o.stopped, app.waitUntilExit()]);
  app.unmount();
  await app.waitUntilExit().catch(() => undefined);
}
