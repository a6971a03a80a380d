/**
 * @agentsight/mcp: Model Context Protocol traffic made visible. JSON-RPC 2.0 messages
 * carried over stdio (newline-delimited, from as-stdiocap's `stdio` events) or over the
 * streamable HTTP transport (JSON or SSE bodies, from as-http's `http` events) become
 * `mcp`/`call` events (a request paired with its response by id, per channel) and
 * `mcp`/`notification` events. State is bounded: partial lines, pending requests and
 * idle streams all have caps and timeouts.
 */
export * from './jsonrpc.js';
export * from './lines.js';
export * from './tracker.js';
