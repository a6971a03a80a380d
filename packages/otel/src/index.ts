/**
 * @agentsight/otel: exports captured LLM calls, tool calls, MCP calls and agent processes
 * as OpenTelemetry spans following the GenAI and MCP semantic conventions, over OTLP/HTTP
 * (protobuf or JSON, optionally gzip), with batching, retry and a bounded queue. The
 * export is a Stage, so `as-otel` and `agentsight exec --otel` share it.
 */
export * from './attrs.js';
export * from './config.js';
export * from './content.js';
export * from './exporter.js';
export * from './ids.js';
export * from './mapper.js';
export * from './otlp.js';
export * from './stage.js';
export * from './testing.js';
