#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-http', 'reassemble HTTP messages from TLS plaintext chunks', 3);
