// What the monitor records when it starts over a store an earlier run wrote: the time it was
// not watching, and why (see MetaGapEvent).
import { type MetaGapEvent, SCHEMA_VERSION } from '@agentsight/events';
import type { PreviousRun } from '@agentsight/serve';

/** The gap since `prev` ended, up to `startUs` (this run's start); null for a store with no earlier run. */
export function gapEvent(prev: PreviousRun | null, startUs: number, tool: string): MetaGapEvent | null {
  if (!prev) return null;
  // Stopped cleanly: the stop is the end. Killed: the last event it managed to store, the
  // best knowledge of when it died (what it held in memory then is lost with it).
  const from = prev.stopTs ?? Math.max(prev.lastTs, prev.startTs);
  return {
    v: SCHEMA_VERSION,
    ts: startUs,
    src: 'meta',
    type: 'gap',
    tool,
    from: Math.min(from, startUs),
    to: startUs,
    reason: prev.stopTs !== undefined ? 'stopped' : 'crash',
    ...(prev.run !== undefined ? { run: prev.run } : {}),
  };
}
