import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const CLI = fileURLToPath(new URL('./cli.js', import.meta.url));
const run = promisify(execFile);
const CORPUS =
  process.env.AGENTSIGHT_CORPUS ??
  path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../shared/corpus/llm-streams');

/** Start the CLI and wait for its ready line. */
function start(
  args: string[],
): Promise<{ child: ChildProcess; ready: { url: string; ca: string | null; port: number }; stderr: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no ready line; stderr: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (d: Buffer) => {
      err += d;
    });
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve({ child, ready: JSON.parse(out.slice(0, nl)), stderr: () => err });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}: ${err}`));
    });
  });
}

const exited = (c: ChildProcess) =>
  new Promise<number | null>((r) => {
    if (c.exitCode !== null) r(c.exitCode);
    else c.once('exit', (code) => r(code));
  });

t.test('prints the URL and CA, serves a script, logs on stderr, stops on SIGTERM', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mock-llm-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.join(dir, 'script.json');
  fs.writeFileSync(
    script,
    JSON.stringify([{ text: 'scripted one' }, { toolCalls: [{ name: 'bash', arguments: { cmd: 'ls' } }] }]),
  );
  const { child, ready, stderr } = await start(['--script', script, '--cert-dir', path.join(dir, 'ca')]);
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  t.match(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.equal(ready.ca, path.join(dir, 'ca', 'ca.pem'));
  const curl = (body: object) =>
    run('curl', [
      '-sS',
      '--fail-with-body',
      '--max-time',
      '10',
      '--cacert',
      ready.ca!,
      '--data-binary',
      JSON.stringify(body),
      `${ready.url}/v1/chat/completions`,
    ]);
  const a = JSON.parse((await curl({ model: 'm', messages: [] })).stdout);
  t.equal(a.choices[0].message.content, 'scripted one');
  const b = JSON.parse((await curl({ model: 'm', messages: [] })).stdout);
  t.same(b.choices[0].message.tool_calls[0].function, { name: 'bash', arguments: '{"cmd":"ls"}' });
  t.match(stderr(), /POST \/v1\/chat\/completions/, 'requests logged on stderr');
  child.kill('SIGTERM');
  t.equal(await exited(child), 0, 'exit 0 on SIGTERM');
});

t.test('--replay --loop --plain answers every call with the recording', async (t) => {
  const f = path.join(CORPUS, 'openai-chat/json-text.http');
  if (!fs.existsSync(f)) {
    t.fail(`corpus missing at ${CORPUS}`);
    return;
  }
  const { child, ready } = await start(['--replay', f, '--loop', '--plain', '-q']);
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  t.match(ready.url, /^http:\/\//);
  t.equal(ready.ca, null);
  const want = fs.readFileSync(f);
  const body = want.subarray(want.indexOf('\r\n\r\n') + 4);
  for (let i = 0; i < 3; i++) {
    // --raw: curl must not undo any transfer coding, so the body compares byte for byte.
    const { stdout } = await run(
      'curl',
      ['-sS', '--raw', '--max-time', '10', '--data-binary', '{}', `${ready.url}/v1/chat/completions`],
      { encoding: 'buffer' },
    );
    t.ok(stdout.equals(body), `call ${i + 1}: the recorded body`);
  }
  child.kill('SIGINT');
  t.equal(await exited(child), 0);
});

t.test('usage errors exit 2', async (t) => {
  for (const args of [
    ['--bogus'],
    ['--port', 'x'],
    ['--replay', '/nonexistent.http'],
    ['--script', '/nonexistent.json'],
  ]) {
    const err = await run(process.execPath, [CLI, ...args]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    t.equal(err?.code, 2, `${args.join(' ')} -> exit 2`);
    t.match(err?.stderr, /agentsight-mock-llm: /);
  }
  const { stdout } = await run(process.execPath, [CLI, '--help']);
  t.match(stdout, /--replay FILE/);
});
