/**
 * The JSON shapes of as-serve's session-scale API: the contract between the store's queries and
 * the UI (and `report`, which answers the same questions over capture files). The UI imports these
 * types; the server's answers are built to them. Times are microseconds since the epoch, like `ts`.
 */

/** The filters shared by the sessions page, the overview and `report sessions|export` (one home: @agentsight/trace). */
export type { SessionFilter } from '@agentsight/trace';

/** One exec/record/monitor segment: what was run, where, and its capture. */
export interface Run {
  id: string;
  host?: string;
  command?: string;
  start: number;
  end?: number;
  capture?: string;
}

/**
 * An agent session: the agent's own conversation id where its traffic carries one, else its
 * process tree (id `pid:<root pid>@<start>`). A sub-agent is a session of its own with a parent.
 */
export interface SessionRow {
  id: string;
  run?: string;
  agent?: string;
  host?: string;
  /** The root process of the session's tree. */
  pid?: number;
  start: number;
  end: number;
  /** The first user prompt's own words (injected context removed), cut for a list. */
  title?: string;
  models: string[];
  providers: string[];
  calls: number;
  toolCalls: number;
  errors: number;
  alerts: number;
  tokensIn: number;
  tokensOut: number;
  /** USD; absent when no call of it could be priced. */
  cost?: number;
  /** Where a sub-agent: its parent session and the tool call (id) that started it. */
  parent?: { session: string; toolCall?: string };
  /** Sub-agent sessions started from this one. */
  children?: string[];
  /** With `q`: a cut of the matching text, the match between \u0002 and \u0003. */
  snippet?: string;
}

export interface SessionPage {
  sessions: SessionRow[];
  /** An opaque cursor for the next page; absent on the last. */
  next?: string;
  /** Total matching, where counting it is cheap enough; else absent. */
  total?: number;
}

/** GET /api/sessions/:id: everything the session page shows, scoped to the session. */
export interface SessionDetail {
  session: SessionRow;
  run?: Run;
  /** Its calls in start order, as /api/calls rows (each with its tool calls and their processes). */
  calls: unknown[];
  /** Its process tree, as /api/processes rows. */
  processes: unknown[];
  /** Sub-agent sessions, each nested under the tool call that started it. */
  children: SessionRow[];
}

/** GET /api/overview?from&to&agent&model&...: the dashboard. */
export interface Overview {
  from: number;
  to: number;
  /** Bucket width for the series below, in microseconds (a day, an hour, a minute: what fits). */
  bucket: number;
  byModel: { model: string; provider?: string; calls: number; tokensIn: number; tokensOut: number; cost?: number }[];
  byAgent: { agent: string; sessions: number; calls: number; tokensIn: number; tokensOut: number; cost?: number }[];
  byDay: { day: string; calls: number; tokensIn: number; tokensOut: number; cost?: number }[];
  series: { t: number; calls: number; errors: number; tokensIn: number; tokensOut: number; cost?: number }[];
  topTools: { tool: string; calls: number; errors: number }[];
  slowest: { id: string; session?: string; model?: string; start: number; durationUs: number }[];
  alerts: { ts: number; rule: string; severity?: string; session?: string; message?: string }[];
}
