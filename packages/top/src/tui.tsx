// The terminal UI, on Ink (React for the terminal): it owns raw mode, the cursor, redraws
// and restoring the terminal, so no escape sequence is written here. The tables are the
// ones --plain prints (table.ts); this adds the keys.
import { Box, render, Text, useApp, useInput, useStdout } from 'ink';
import { useEffect, useState } from 'react';
import { initialState, press } from './keys.js';
import type { Snapshot } from './schema.js';
import { pad, type SortKey, sortRows, sourceLine, table, totalsLine, VIEWS, type ViewName } from './table.js';

export interface TuiProps {
  snapshot: () => Snapshot;
  /** Called when the data changed; returns the unsubscribe. */
  subscribe: (fn: () => void) => () => void;
  notes: () => string[];
  view: ViewName;
  sort?: SortKey;
  reverse: boolean;
  onQuit: () => void;
  /** Keys are read only from a terminal (raw mode); otherwise a signal ends the view. */
  keys: boolean;
}

/** Re-render at most this often, however fast events arrive. */
const FRAME_MS = 200;

export function TopApp(props: TuiProps) {
  const { stdout } = useStdout();
  const { exit } = useApp();
  const [, setTick] = useState(0);
  const [ui, setUi] = useState(() => initialState(props.view, props.sort, props.reverse));
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
  useEffect(() => {
    if (!ui.quit) return;
    props.onQuit();
    exit();
  }, [ui.quit, props.onQuit, exit]);

  useInput(
    (input, key) => {
      // Keys typed faster than a frame arrive together ("<<"): each is a key of its own.
      const keys = input.length > 1 && !key.ctrl && !key.meta ? [...input] : [input];
      setUi((s) => keys.reduce((acc, ch) => press(acc, ch, key, bodyRows), s));
    },
    { isActive: props.keys },
  );

  const { view, reverse, scroll } = ui;
  const snap = props.snapshot();
  const sort = ui.sorts[view];
  const rows = sortRows(view, snap[view] as never[], sort, reverse);
  const t = table(view, rows, { sort, now: snap.ts, width });
  const top = Math.min(scroll, Math.max(0, t.lines.length - bodyRows));
  const visible = t.lines.slice(top, top + bodyRows);
  const cell = (text: string, i: number, n: number) => pad(text, t.widths[i]!, t.aligns[i]!, i === n - 1);
  const notes = props.notes();
  const footer =
    ui.message ||
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
  o: Omit<TuiProps, 'onQuit' | 'keys'> & {
    out: NodeJS.WriteStream;
    stdin: NodeJS.ReadStream;
    stopped: Promise<unknown>;
  },
): Promise<void> {
  let quit!: () => void;
  const quitted = new Promise<void>((r) => {
    quit = r;
  });
  const app = render(<TopApp {...o} onQuit={quit} keys={o.stdin.isTTY === true} />, {
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
