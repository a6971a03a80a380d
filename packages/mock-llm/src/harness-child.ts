/** Test support: run sdk-harness jobs in a child Node that trusts the mock's CA the way a user would. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Job, JobResult } from './sdk-harness.js';

const HARNESS = fileURLToPath(new URL('./sdk-harness.js', import.meta.url));

export function runHarness(jobs: Job[], caPath: string | null, timeoutMs = 90_000): Promise<JobResult[]> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (caPath) env.NODE_EXTRA_CA_CERTS = caPath;
    else delete env.NODE_EXTRA_CA_CERTS;
    const child = spawn(process.execPath, [HARNESS], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sdk harness timed out after ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`sdk harness exited ${code}: ${err}`));
        return;
      }
      resolve(
        out
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as JobResult),
      );
    });
    child.stdin.end(JSON.stringify(jobs));
  });
}
