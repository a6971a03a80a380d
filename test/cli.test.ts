// The shared CLI conventions, tested through real spawned processes: exit codes, malformed
// input, --strict, -o FILE (0600, append, rotation), closed pipe and SIGTERM.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseNdjson, ROOT, runCommand } from './lib/run.js';

const TOOL = path.join(ROOT, 'dist/test/lib/identity-tool.js');
const run = (args: string[], opts: Parameters<typeof runCommand>[2] = {}) =>
  runCommand(process.execPath, [TOOL, ...args], opts);
const line = (n: number, extra = '') =>
  `{"v":1,"ts":${1764150000000000 + n},"src":"meta","type":"n","n":${n}${extra}}\n`;

t.test('good lines pass unchanged; bad ones are reported as file:line and skipped', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-'));
  const f = path.join(dir, 'in.ndjson');
  fs.writeFileSync(f, line(1) + '{"v":1,\n' + line(2) + '42\n' + line(3));
  const r = await run([f]);
  t.equal(r.code, 0);
  t.equal(r.stdout.toString(), line(1) + line(2) + line(3));
  t.match(r.stderr, new RegExp(`${f}:2: invalid JSON`));
  t.match(r.stderr, new RegExp(`${f}:4: not a JSON object \\(number\\)`));
  const s = await run(['--strict', f]);
  t.equal(s.code, 1, '--strict exits 1');
  t.equal(s.stdout.toString(), line(1));
  t.match(s.stderr, /in\.ndjson:2:/);
  const stdin = await run([], { stdin: line(5) + 'x\n' });
  t.match(stdin.stderr, /<stdin>:2: invalid JSON/);
  t.equal(stdin.stdout.toString(), line(5));
});

t.test('exit codes: usage 2, missing file 1, --help/--version 0', async (t) => {
  t.equal((await run(['--no-such-flag'])).code, 2);
  const unwritable = await run(['-o', '/nonexistent/dir/out.ndjson'], { stdin: line(1) });
  t.equal(unwritable.code, 1, 'an output that cannot be opened is a runtime failure');
  t.match(unwritable.stderr, /^as-identity: \/nonexistent\/dir\/out\.ndjson: no such file or directory/);
  t.notMatch(unwritable.stderr, /at .*\.js:\d+/, 'no stack trace');
  const missing = await run(['/nonexistent/file.ndjson']);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /nonexistent.*ENOENT|ENOENT.*nonexistent/);
  const h = await run(['--help']);
  t.equal(h.code, 0);
  t.match(h.stdout.toString(), /--output/);
  t.match(h.stdout.toString(), /Exit status: 0 ok, 1 runtime failure, 2 usage, 77/);
  const v = await run(['--version']);
  t.match(v.stdout.toString(), /^\d+\.\d+\.\d+\n$/);
});

t.test('-o FILE: created 0600, appended, rotated into whole-line files', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-'));
  const out = path.join(dir, 'cap.ndjson');
  const old = process.umask(0o022);
  try {
    await run(['-o', out], { stdin: line(1) });
    t.equal(fs.statSync(out).mode & 0o777, 0o600);
    await run(['-o', out], { stdin: line(2) });
    t.equal(fs.readFileSync(out, 'utf8'), line(1) + line(2), 'appended');
    const pad = ',"pad":"' + 'z'.repeat(300_000) + '"';
    let input = '';
    for (let i = 0; i < 10; i++) input += line(i, pad);
    await run(['-o', out, '--rotate-mb', '1'], { stdin: input });
    const files = fs.readdirSync(dir).sort();
    t.same(files, ['cap.ndjson', 'cap.ndjson.1', 'cap.ndjson.2', 'cap.ndjson.3'].slice(0, files.length));
    t.ok(files.length >= 3, `rotated into ${files.length} files`);
    let total = 0;
    for (const f of files) {
      const p = path.join(dir, f);
      t.equal(fs.statSync(p).mode & 0o777, 0o600, `${f} is 0600`);
      t.ok(fs.statSync(p).size <= 1024 * 1024, `${f} within the limit`);
      total += parseNdjson(fs.readFileSync(p)).length; // throws on a partial line
    }
    t.equal(total, 12);
  } finally {
    process.umask(old);
  }
});

t.test('closed pipe (| head): exits 0 at once, no EPIPE noise', async (t) => {
  const child = spawn(process.execPath, [TOOL], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  // Keep feeding so the tool has more to write after the reader goes away.
  let i = 0;
  const feed = setInterval(() => {
    if (child.stdin.writable) child.stdin.write(line(i++).repeat(200));
  }, 5);
  child.stdin.on('error', () => {});
  const first = await new Promise<string>((res) => child.stdout.once('data', (d) => res(d.toString())));
  t.match(first, /^\{"v":1/);
  child.stdout.destroy();
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearInterval(feed);
  t.equal(code, 0);
  t.notMatch(err, /EPIPE|Error/);
});

t.test('SIGTERM: flushes whole lines and exits 0', async (t) => {
  const child = spawn(process.execPath, [TOOL], { stdio: ['pipe', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (d) => chunks.push(d));
  const N = 2000;
  let input = '';
  for (let i = 0; i < N; i++) input += line(i);
  child.stdin.write(input); // stdin stays open: only the signal ends the tool
  await new Promise<void>((res) => {
    const check = () => (Buffer.concat(chunks).toString().split('\n').length > N ? res() : setTimeout(check, 20));
    check();
  });
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  t.equal(code, 0);
  const out = Buffer.concat(chunks).toString();
  t.ok(out.endsWith('\n'), 'ends on a whole line');
  t.equal(parseNdjson(out).length, N);
});

t.test(
  'a BpfError (what the loader throws for a missing privilege or kernel feature) ends a tool with 77 and one line',
  async (t) => {
    // The loader does not import the CLI: this is the whole contract between them.
    const src = `import { runTool } from '@agentsight/cli'; import { BpfError } from '@agentsight/bpf';
    await runTool({ name: 'as-x', summary: 'x' }, async () => { throw new BpfError('needs root, or CAP_BPF and CAP_PERFMON'); });`;
    const r = await runCommand(process.execPath, ['--input-type=module', '-e', src], { cwd: ROOT });
    t.equal(r.code, 77);
    t.equal(r.stderr, 'as-x: needs root, or CAP_BPF and CAP_PERFMON\n');
  },
);

t.test('a reader slower than the tool: the queued tail is written and the tool exits 0', async (t) => {
  // Output that fills the pipe (64 KiB) with a tail queued in the stream below its
  // high-water mark: the tool finishes while the tail waits for the reader. Waiting for a
  // 'drain' that never comes (no write had returned false) ended it with Node's code 13.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-cli-'));
  const f = path.join(dir, 'in.ndjson');
  const out = path.join(dir, 'out.ndjson');
  let text = '';
  for (let n = 0; text.length < 66 * 1024; n++) text += line(n);
  fs.writeFileSync(f, text);
  // The tail is queued or not by how the pipe's pages fill: a few runs, each must pass.
  for (let i = 0; i < 6; i++) {
    const r = await runCommand('bash', [
      '-c',
      // tap hands its loaders to child processes in NODE_OPTIONS; they keep the loop alive.
      `env -u NODE_OPTIONS "${process.execPath}" "${TOOL}" "${f}" | { sleep 0.5; cat > "${out}"; }; echo "\${PIPESTATUS[0]}"`,
    ]);
    t.equal(r.stdout.toString().trim(), '0', `run ${i + 1}: the tool exits 0`);
    t.equal(fs.readFileSync(out, 'utf8'), text, `run ${i + 1}: every line, whole`);
  }
});
