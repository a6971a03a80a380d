#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-stdiocap', 'stdin/stdout/stderr capture of a process tree', 4);
