#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-proc', 'process, file and network events from kernel tracepoints', 4);
