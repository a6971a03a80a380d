#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-serve', 'web UI for captured agent activity', 6);
