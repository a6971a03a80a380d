#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-otel', 'export LLM calls as OpenTelemetry GenAI spans over OTLP/HTTP', 5);
