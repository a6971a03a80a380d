/**
 * @agentsight/events: the event contract shared by every tool. Types for every event,
 * the validator, binary-safe payload encoding, the monotonic-to-wall clock conversion,
 * and the NDJSON reader and writer. Documented in man/agentsight-events.7.
 */

export * from './clock.js';
export * from './host.js';
export * from './json.js';
export { escapeJsonBytes, escapeJsonInto, fastJsonBytes, lastEscapedAscii } from './jsonbytes.js';
export * from './ndjson.js';
export * from './order.js';
export * from './payload.js';
export * from './stage.js';
export * from './types.js';
export * from './validate.js';
