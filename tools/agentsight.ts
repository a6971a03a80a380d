#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('agentsight', 'trace an agent end to end (exec, record, report)', 10);
