#!/usr/bin/env node
import { notBuilt } from '@agentsight/cli';

await notBuilt('as-sslsniff', 'TLS plaintext capture with eBPF uprobes', 9);
