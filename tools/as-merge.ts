#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-merge', 'merge HTTP exchanges into complete LLM and MCP calls', 3);
