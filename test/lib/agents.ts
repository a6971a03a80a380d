// Real agents against the mock LLM server: how to start each one so that it trusts the
// mock's CA, sends no telemetry, runs its tools without asking, and ends (several retry
// forever when they cannot connect, so every run is bounded by the caller too), and which
// ELF file carries its TLS. Shared by the E2E tests, the demo and `agentsight exec` tests.
//
// What each needed on this machine (Node 20, Debian 12, as root):
//  sdk     node + @anthropic-ai/sdk / openai: NODE_EXTRA_CA_CERTS. TLS in the node binary.
//  python  /usr/bin/python3 + http.client: SSL_CERT_FILE. TLS in the system libssl.so.3.
//  claude  the native binary: ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, NODE_EXTRA_CA_CERTS (Bun
//          honours it), CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1, `-p`, `--allowedTools`, and
//          as root `--dangerously-skip-permissions` only with IS_SANDBOX=1. TLS in its stripped
//          static BoringSSL (located by as-sslsniff).
//  gemini  node + bundle: GEMINI_API_KEY, GOOGLE_GEMINI_BASE_URL, NODE_EXTRA_CA_CERTS,
//          GEMINI_CLI_TRUST_WORKSPACE=true, settings.json security.auth.selectedType
//          "gemini-api-key" in $HOME/.gemini, `--yolo`. It relaunches itself as a child node
//          (bigger heap) unless GEMINI_CLI_NO_RELAUNCH=true: set here so the agent's TLS stays
//          in the pid we start. First call of a turn: a JSON "complexity router" request.
//  codex   static musl, rustls over aws-lc: CODEX_HOME with a [model_providers.mock], and
//          CODEX_CA_CERTIFICATE (its rustls roots are webpki's, not the system's). TLS in
//          aws-lc's AEAD seal/open inside the binary (located by as-sslsniff). Two releases
//          (`make agents`), each also through its npm launcher (node spawning the binary).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { MockRequest, Reply, ToolCall } from '@agentsight/mock-llm';
import { ROOT } from './run.js';

export const AGENTS_DIR = path.join(ROOT, '.cache/agents');
export const SDK_AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');
export const PY_AGENT = path.join(ROOT, 'test/agents/py-agent.py');
export const CLAUDE_BIN = path.join(AGENTS_DIR, 'node_modules/@anthropic-ai/claude-code-linux-x64/claude');
export const GEMINI_JS = path.join(AGENTS_DIR, 'gemini/node_modules/@google/gemini-cli/bundle/gemini.js');
/** The pinned Codex release and the newest one pinned next to it (Makefile CODEX_PKG, CODEX_NEW_PKG). */
export type CodexRelease = 'pinned' | 'new';
const codexDir = (r: CodexRelease) => path.join(AGENTS_DIR, r === 'new' ? 'codex-new' : 'codex');
export const codexBin = (r: CodexRelease = 'pinned') =>
  path.join(codexDir(r), 'node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex');
/** The npm package's `codex` command: a node script that spawns the native binary. */
export const codexLauncher = (r: CodexRelease = 'pinned') =>
  path.join(codexDir(r), 'node_modules/@openai/codex/bin/codex.js');
export function codexVersion(r: CodexRelease = 'pinned'): string | null {
  try {
    const p = path.join(codexDir(r), 'node_modules/@openai/codex/package.json');
    return (JSON.parse(fs.readFileSync(p, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}
export const CODEX_BIN = codexBin('pinned');
export const PYTHON = '/usr/bin/python3';

export interface MockInfo {
  url: string;
  caPath: string;
}

export interface LaunchOptions {
  mock: MockInfo;
  prompt: string;
  /** Working directory of the agent (its tools write here). */
  cwd: string;
  /** A private HOME (config, caches, history land here, not in the real one). */
  home: string;
}

export interface AgentLaunch {
  cmd: string[];
  env: Record<string, string>;
  cwd?: string;
  /** Files to write before starting (absolute path -> content): the agent's settings. */
  settingsFiles?: Record<string, string>;
}

export interface Agent {
  name: string;
  /** The API it speaks (as-merge's `api`). */
  api: 'anthropic.messages' | 'openai.chat' | 'gemini' | 'openai.responses';
  /** null, or the reason it cannot run here (said loudly by the tests that skip). */
  available(): string | null;
  /** The ELF file (binary or shared library) whose SSL_read/SSL_write carry its traffic. */
  tlsTarget(): string;
  /** The model call that runs `command` with its shell tool. */
  shell(command: string): ToolCall;
  /** The model call that writes `content` to the absolute path `file` with its file tool. */
  write(file: string, content: string): ToolCall;
  /**
   * Its TLS runs in a child process (not the pid we start): capture must follow the tree,
   * not a pid filter.
   */
  tlsInChild?: boolean;
  /**
   * Its TLS library writes and reads the socket inside SSL_write/SSL_read (not node's memory
   * BIOs), so the capture names each connection's socket fd.
   */
  socketFd?: boolean;
  /**
   * Its model calls go over the Responses API's WebSocket mode (each call answered on the
   * upgraded connection: status 101), not one HTTP request each.
   */
  websocket?: boolean;
  /** Calls that are the agent's own plumbing, not the conversation, with the reply they need. */
  aside?(req: MockRequest): Reply | null;
  launch(o: LaunchOptions): AgentLaunch;
}

const BASE_ENV = (o: LaunchOptions): Record<string, string> => ({
  PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
  HOME: o.home,
  LANG: 'C.UTF-8',
  TERM: 'dumb',
  NO_COLOR: '1',
  CI: '1',
});

const missing = (p: string, how: string) => (fs.existsSync(p) ? null : `MISSING ${p}: ${how}`);

/** The agent loop on the official SDKs (test/agents/sdk-agent.ts), on the node running us. */
export function sdkAgent(provider: 'anthropic' | 'openai'): Agent {
  return {
    name: `sdk-${provider}`,
    api: provider === 'anthropic' ? 'anthropic.messages' : 'openai.chat',
    available: () => missing(SDK_AGENT, 'build the tests (npx tsc -b)'),
    tlsTarget: () => fs.realpathSync(process.execPath),
    shell: (command) => ({ name: 'bash', arguments: { command } }),
    write: (file, content) => ({ name: 'write_file', arguments: { path: file, content } }),
    launch: (o) => ({
      cmd: [process.execPath, SDK_AGENT, '--provider', provider, '--base-url', o.mock.url, o.prompt],
      env: {
        ...BASE_ENV(o),
        NODE_EXTRA_CA_CERTS: o.mock.caPath,
        ANTHROPIC_API_KEY: 'sk-ant-e2e',
        OPENAI_API_KEY: 'sk-e2e',
      },
      cwd: o.cwd,
    }),
  };
}

let libsslCache: string | null | undefined;
/** The libssl the system python maps once `ssl` is imported (the dynamic-library path). */
export function pythonLibssl(): string | null {
  if (libsslCache !== undefined) return libsslCache;
  try {
    const out = execFileSync(
      PYTHON,
      ['-c', "import ssl\nprint(next(l.split()[-1] for l in open('/proc/self/maps') if '/libssl' in l))"],
      { encoding: 'utf8', timeout: 10000 },
    );
    libsslCache = out.trim() || null;
  } catch {
    libsslCache = null;
  }
  return libsslCache;
}

/** test/agents/py-agent.py: standard library only, Anthropic Messages API, JSON or SSE. */
export function pyAgent(stream: boolean): Agent {
  return {
    name: `python-${stream ? 'sse' : 'json'}`,
    api: 'anthropic.messages',
    socketFd: true,
    available: () =>
      missing(PYTHON, 'apt-get install python3') ??
      (pythonLibssl() ? null : `${PYTHON} maps no libssl after import ssl`),
    tlsTarget: () => pythonLibssl()!,
    shell: (command) => ({ name: 'bash', arguments: { command } }),
    write: (file, content) => ({ name: 'write_file', arguments: { path: file, content } }),
    launch: (o) => ({
      cmd: [PYTHON, PY_AGENT, '--base-url', o.mock.url, '--timeout', '20', ...(stream ? ['--stream'] : []), o.prompt],
      env: {
        ...BASE_ENV(o),
        SSL_CERT_FILE: o.mock.caPath,
        ANTHROPIC_API_KEY: 'sk-ant-e2e',
        PYTHONDONTWRITEBYTECODE: '1',
      },
      cwd: o.cwd,
    }),
  };
}

/** Why a native binary cannot run here: missing, or not executable on this machine. */
function binaryProblem(bin: string, args: string[], how: string): string | null {
  const m = missing(bin, how);
  if (m) return m;
  try {
    execFileSync(bin, args, { stdio: 'ignore', timeout: 20000, env: { PATH: process.env.PATH ?? '', HOME: '/tmp' } });
    return null;
  } catch (e) {
    return `${bin} ${args.join(' ')} fails here: ${(e as Error).message.split('\n')[0]}`;
  }
}

const memo = <T>(f: () => T) => {
  let v: { x: T } | undefined;
  return () => (v ??= { x: f() }).x;
};

/** Claude Code on Amazon Bedrock (`CLAUDE_CODE_USE_BEDROCK=1`): Anthropic bodies at
 * `/model/{id}/invoke-with-response-stream`, streamed in AWS event-stream framing; no AWS
 * credentials (CLAUDE_CODE_SKIP_BEDROCK_AUTH=1), the mock as the Bedrock endpoint. */
export function claudeCodeBedrock(): Agent {
  const a = claudeCode();
  return {
    ...a,
    name: 'claude-code-bedrock',
    launch: (o) => {
      const l = a.launch(o);
      const { ANTHROPIC_BASE_URL: _u, ANTHROPIC_API_KEY: _k, ...env } = l.env;
      return {
        ...l,
        cmd: l.cmd.map((x) => (x === 'claude-sonnet-4-5' ? BEDROCK_MODEL : x)),
        env: {
          ...env,
          CLAUDE_CODE_USE_BEDROCK: '1',
          ANTHROPIC_BEDROCK_BASE_URL: o.mock.url,
          CLAUDE_CODE_SKIP_BEDROCK_AUTH: '1',
          AWS_REGION: 'us-east-1',
        },
      };
    },
  };
}

/** A Bedrock inference-profile id, as Claude Code sends it in the path. */
export const BEDROCK_MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';

/** Claude Code 2.1.197, the native linux-x64 binary (Bun + stripped static BoringSSL). */
export function claudeCode(): Agent {
  const avail = memo(() => binaryProblem(CLAUDE_BIN, ['--version'], 'run `make agents`'));
  return {
    name: 'claude-code',
    api: 'anthropic.messages',
    socketFd: true,
    available: avail,
    tlsTarget: () => CLAUDE_BIN,
    shell: (command) => ({ name: 'Bash', arguments: { command, description: 'Run the requested command' } }),
    write: (file, content) => ({ name: 'Write', arguments: { file_path: file, content } }),
    launch: (o) => ({
      cmd: [
        CLAUDE_BIN,
        '-p',
        o.prompt,
        '--allowedTools',
        'Bash,Write',
        '--dangerously-skip-permissions',
        '--max-turns',
        '8',
        '--model',
        'claude-sonnet-4-5',
      ],
      env: {
        ...BASE_ENV(o),
        ANTHROPIC_BASE_URL: o.mock.url,
        ANTHROPIC_API_KEY: 'sk-ant-e2e',
        NODE_EXTRA_CA_CERTS: o.mock.caPath,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_AUTOUPDATER: '1',
        DISABLE_ERROR_REPORTING: '1',
        // --dangerously-skip-permissions is refused as root unless it believes it is sandboxed.
        IS_SANDBOX: '1',
        // Without it, an unreachable or untrusted endpoint is retried (with backoff) for minutes.
        API_TIMEOUT_MS: '20000',
        CLAUDE_CODE_MAX_RETRIES: '0',
        SHELL: '/bin/bash',
      },
      cwd: o.cwd,
    }),
  };
}

/**
 * Gemini CLI 0.61.0 (node bundle) with an API key, against GOOGLE_GEMINI_BASE_URL. By default
 * it relaunches itself as a child node with a bigger heap and the child does all the work
 * (`relaunch: true`, as users run it); GEMINI_CLI_NO_RELAUNCH=true keeps it in one process.
 */
export function geminiCli(opts: { relaunch?: boolean } = {}): Agent {
  return {
    name: opts.relaunch ? 'gemini-cli-relaunch' : 'gemini-cli',
    tlsInChild: !!opts.relaunch,
    api: 'gemini',
    available: () => missing(GEMINI_JS, 'run `make agents`'),
    tlsTarget: () => fs.realpathSync(process.execPath),
    shell: (command) => ({
      name: 'run_shell_command',
      arguments: { command, description: 'Run the requested command' },
    }),
    write: (file, content) => ({ name: 'write_file', arguments: { file_path: file, content } }),
    // Each turn starts with a classifier call (JSON schema {complexity_reasoning,
    // complexity_score}) that picks flash or pro; a reply it cannot parse is retried.
    aside: (req) => {
      const gc = (
        req.json as
          | { generationConfig?: { responseMimeType?: string; responseJsonSchema?: { properties?: object } } }
          | undefined
      )?.generationConfig;
      if (
        gc?.responseMimeType !== 'application/json' ||
        !gc.responseJsonSchema?.properties ||
        !('complexity_score' in gc.responseJsonSchema.properties)
      )
        return null;
      return {
        text: JSON.stringify({ complexity_reasoning: 'A single explicit step.', complexity_score: 10 }),
        usage: { input_tokens: 900, output_tokens: 20 },
      };
    },
    launch: (o) => ({
      cmd: [process.execPath, GEMINI_JS, '-p', o.prompt, '--yolo', '--output-format', 'text'],
      env: {
        ...BASE_ENV(o),
        GEMINI_API_KEY: 'e2e-key',
        GOOGLE_GEMINI_BASE_URL: o.mock.url,
        NODE_EXTRA_CA_CERTS: o.mock.caPath,
        GEMINI_CLI_TRUST_WORKSPACE: 'true',
        ...(opts.relaunch ? {} : { GEMINI_CLI_NO_RELAUNCH: 'true' }),
        GEMINI_TELEMETRY_ENABLED: 'false',
      },
      cwd: o.cwd,
      settingsFiles: {
        [path.join(o.home, '.gemini/settings.json')]: JSON.stringify(
          {
            security: { auth: { selectedType: 'gemini-api-key' } },
            privacy: { usageStatisticsEnabled: false },
            general: { disableAutoUpdate: true, disableUpdateNag: true },
            telemetry: { enabled: false },
          },
          null,
          2,
        ),
      },
    }),
  };
}

/**
 * Codex (static musl, rustls over aws-lc), the pinned release or the newest, started as the
 * native binary or through its npm launcher (node, which spawns the binary: its TLS is then
 * in a child). Runs against the mock (Responses API over SSE).
 */
export function codex(o: { release?: CodexRelease; launcher?: boolean; websocket?: boolean } = {}): Agent {
  const release = o.release ?? 'pinned';
  const bin = codexBin(release);
  const launcher = codexLauncher(release);
  const avail = memo(
    () =>
      binaryProblem(bin, ['--version'], 'run `make agents`') ??
      (o.launcher ? missing(launcher, 'run `make agents`') : null),
  );
  return {
    name: `codex${release === 'new' ? '-new' : ''}${o.launcher ? '-npm' : ''}${o.websocket ? '-ws' : ''}`,
    api: 'openai.responses',
    available: avail,
    tlsTarget: () => bin,
    socketFd: true,
    ...(o.launcher ? { tlsInChild: true } : {}),
    ...(o.websocket
      ? {
          websocket: true,
          // Over WebSocket Codex first warms the connection up with a response.create that
          // asks for no generation: plumbing, answered empty.
          aside: (req: MockRequest) =>
            (req.json as { generate?: unknown } | undefined)?.generate === false
              ? { text: '', usage: { input_tokens: 5, output_tokens: 0 } }
              : null,
        }
      : {}),
    shell: (command) => ({ name: 'exec_command', arguments: { cmd: command } }),
    write: (file, content) => ({ name: 'exec_command', arguments: { cmd: `printf '%s' '${content}' > '${file}'` } }),
    launch: (o2) => launchCodex(o.launcher ? [process.execPath, launcher] : [bin], o2, !!o.websocket),
  };
}

function launchCodex(argv0: string[], o: LaunchOptions, websocket: boolean): AgentLaunch {
  return {
    cmd: [
      ...argv0,
      'exec',
      '--skip-git-repo-check',
      '--dangerously-bypass-approvals-and-sandbox',
      '-m',
      'gpt-5-codex',
      o.prompt,
    ],
    env: {
      ...BASE_ENV(o),
      CODEX_HOME: path.join(o.home, '.codex'),
      CODEX_CA_CERTIFICATE: o.mock.caPath,
      MOCK_API_KEY: 'sk-e2e',
    },
    cwd: o.cwd,
    settingsFiles: {
      [path.join(o.home, '.codex/config.toml')]: [
        'model_provider = "mock"',
        'model = "gpt-5-codex"',
        '[model_providers.mock]',
        'name = "mock"',
        `base_url = "${o.mock.url}/v1"`,
        'env_key = "MOCK_API_KEY"',
        'wire_api = "responses"',
        ...(websocket ? ['supports_websockets = true'] : []),
        'request_max_retries = 0',
        'stream_max_retries = 0',
        '',
      ].join('\n'),
    },
  };
}

export function writeSettings(l: AgentLaunch): void {
  for (const [file, content] of Object.entries(l.settingsFiles ?? {})) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, content);
  }
}

/**
 * A mock script for a session: `turns` answer the conversation's calls in order, the
 * agent's own plumbing calls (`aside`) get what they need, and anything past the script gets
 * a plain text reply. Every reply actually sent is logged in `served`, for the assertions.
 */
export function sessionScript(
  agent: Agent,
  turns: Reply[],
): { script: (req: MockRequest) => Reply; served: Array<{ req: MockRequest; reply: Reply; aside: boolean }> } {
  const served: Array<{ req: MockRequest; reply: Reply; aside: boolean }> = [];
  let next = 0;
  return {
    served,
    script: (req) => {
      const a = agent.aside?.(req) ?? null;
      const reply = a ??
        turns[next++] ?? { text: `Nothing more to do (call ${next}).`, usage: { input_tokens: 100, output_tokens: 8 } };
      served.push({ req, reply, aside: !!a });
      return reply;
    },
  };
}

/** The session the tests script: a shell command that writes a file and ends with a failing
 * `ls` (exit 2), a write with the agent's own file tool, then a final text. */
export const SESSION = {
  prompt: 'Save the hostname to a file, then write a short note.',
  shellCmd: 'cat /etc/hostname > e2e-shell.txt; wc -c e2e-shell.txt; ls /nonexistent-agentsight',
  note: 'written by the agent\n',
  final: 'Done: e2e-shell.txt and e2e-write.txt are written.',
  turns:
    (agent: Agent) =>
    (cwd: string): Reply[] => [
      { toolCalls: [agent.shell(SESSION.shellCmd)], usage: { input_tokens: 1211, output_tokens: 41 } },
      // Real APIs answer with the model's dated id: the call's model is the one the server named.
      {
        text: 'Now the note.',
        toolCalls: [agent.write(path.join(cwd, 'e2e-write.txt'), SESSION.note)],
        usage: { input_tokens: 1322, output_tokens: 33 },
        model: 'mock-model-2026-11-26',
      },
      { text: SESSION.final, usage: { input_tokens: 1433, output_tokens: 17 } },
    ],
};

export interface Gated {
  /** The agent's pid: the gate execs into the agent, so it does not change. */
  pid: number;
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  release(): void;
  /** Exit code (or 128+signal); after timeoutMs the process group is killed and this rejects. */
  exited: Promise<number>;
}

// A shell that waits on fd 3 and then execs the agent in its own pid: tracing filtered on
// that pid is in place before the agent's first instruction.
const GATE = 'IFS= read -r _ <&3 || exit 125; exec 3<&-; exec "$0" "$@"';

export function spawnGated(l: AgentLaunch, timeoutMs: number): Gated {
  const [file, ...args] = l.cmd;
  const child = spawn('/bin/sh', ['-c', GATE, file!, ...args], {
    cwd: l.cwd,
    env: l.env,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const gate = child.stdio[3] as Writable;
  gate.on('error', () => {
    /* died before release */
  });
  let timer: NodeJS.Timeout | undefined;
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' && timedOut)
        reject(
          new Error(
            `${path.basename(file!)} still running after ${timeoutMs} ms (killed); stderr: ${err.slice(-1500)}`,
          ),
        );
      else resolve(code ?? 128 + 9);
    });
  });
  exited.catch(() => {
    /* the caller awaits it */
  });
  let timedOut = false;
  return {
    pid: child.pid!,
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    release() {
      gate.end('go\n');
      timer = setTimeout(() => {
        timedOut = true;
        // The whole group: agents leave shells and tool processes behind when killed alone.
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      }, timeoutMs);
    },
  };
}

export const ALL_AGENTS = (): Agent[] => [
  sdkAgent('anthropic'),
  sdkAgent('openai'),
  pyAgent(false),
  pyAgent(true),
  claudeCode(),
  geminiCli(),
  geminiCli({ relaunch: true }),
];

// ---------------------------------------------------------------- a traced session

/** `root` and every process it started, from as-proc's fork/exec events. */
export function treeOf(root: number, proc: Array<Record<string, any>>): Set<number> {
  const set = new Set([root]);
  for (const e of [...proc].sort((a, b) => a.ts - b.ts)) {
    if ((e.type === 'fork' || e.type === 'exec') && set.has(e.ppid)) set.add(e.pid);
  }
  return set;
}

export interface TracedSession {
  agent: Agent;
  /** Agent's pid (the gate's, which it kept). */
  pid: number;
  exitCode: number;
  stdout: string;
  stderr: string;
  cwd: string;
  /** Model calls the mock answered, with the reply each got. */
  served: Array<{ req: MockRequest; reply: Reply; aside: boolean }>;
  requests: MockRequest[];
  ssl: Array<Record<string, any>>;
  sslStderr: string;
  proc: Array<Record<string, any>>;
  procInvalid: string[];
  /** as-sslsniff | as-http | as-merge output. */
  merged: Array<Record<string, any>>;
  ms: { agent: number; total: number };
  /** The session's temporary directory (cwd and HOME are inside): the caller removes it. */
  dir: string;
}

/**
 * What a traced session starts from: its own directory (cwd and HOME inside), the mock LLM
 * scripted with `turns(cwd)`, and the agent's launch (settings files written).
 */
async function prepareSession(agent: Agent, kind: string, turns: (cwd: string) => Reply[], prompt: string) {
  const { startMockLlm } = await import('@agentsight/mock-llm');
  const dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `as-${kind}-${agent.name}-`));
  const cwd = path.join(dir, 'work');
  const home = path.join(dir, 'home');
  fs.mkdirSync(cwd);
  fs.mkdirSync(home);
  const { script, served } = sessionScript(agent, turns(cwd));
  const mock = await startMockLlm({ script });
  try {
    const l = agent.launch({ mock, prompt, cwd, home });
    writeSettings(l);
    return { dir, cwd, served, mock, l };
  } catch (e) {
    await mock.close();
    throw e;
  }
}

/**
 * Run `agent` gated, with as-sslsniff on its TLS file filtered to its pid and as-proc on its
 * tree, against a mock scripted with `turns(cwd)`; then pipe the capture through as-http and
 * as-merge. Bounded: the agent is killed after `timeoutMs`.
 */
export async function traceAgent(
  agent: Agent,
  turns: (cwd: string) => Reply[],
  o: { prompt: string; timeoutMs: number },
): Promise<TracedSession> {
  const { startCapture } = await import('../sslsniff-helpers.js');
  const { startTool } = await import('../proc-harness.js');
  const { runTool } = await import('./run.js');
  const t0 = Date.now();
  const { dir, cwd, served, mock, l } = await prepareSession(agent, 'e2e', turns, o.prompt);
  try {
    let tlsFile = agent.tlsTarget();
    if (agent.tlsInChild && l.cmd[0] === tlsFile) {
      // Its TLS is in a child we cannot gate or name in advance, and an unfiltered capture
      // of a shared binary (node) takes in every other program using it. A private copy
      // of the binary is a distinct inode: uprobes on it see this agent's tree and nothing else.
      const copy = path.join(dir, 'bin', path.basename(tlsFile));
      fs.mkdirSync(path.dirname(copy));
      fs.copyFileSync(tlsFile, copy);
      fs.chmodSync(copy, 0o755);
      l.cmd[0] = tlsFile = copy;
    }
    const g = spawnGated(l, o.timeoutMs);
    let sniff: Awaited<ReturnType<typeof startCapture>> | undefined;
    const proc = startTool('as-proc', ['-p', String(g.pid), '--interval', '0', '--no-snapshot'], {
      timeoutMs: o.timeoutMs + 30000,
    });
    try {
      // A pid filter when the agent's TLS is in the pid we start; else everything using its
      // (private) TLS file, kept below only for the agent's tree (as-proc's exec/fork events).
      sniff = await startCapture(['--binary-path', tlsFile, ...(agent.tlsInChild ? [] : ['-p', String(g.pid)])], 30000);
      await proc.ready;
    } catch (e) {
      g.child.kill('SIGKILL');
      sniff?.child.kill('SIGKILL');
      await proc.stop();
      throw e;
    }
    const ta = Date.now();
    g.release();
    let exitCode: number;
    try {
      exitCode = await g.exited;
    } finally {
      // as-proc ends by itself once the traced pid is gone; the capture is stopped.
      const killProc = setTimeout(() => void proc.stop(), 10000);
      await proc.done;
      clearTimeout(killProc);
    }
    const agentMs = Date.now() - ta;
    const cap = await sniff.stop();
    const pr = await proc.done;
    const pids = treeOf(g.pid, pr.events as unknown as Array<Record<string, any>>);
    const ssl = agent.tlsInChild ? cap.events.filter((e) => e.pid === undefined || pids.has(e.pid)) : cap.events;
    const sslText = ssl.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const http = await runTool('as-http', ['-q'], { stdin: sslText, timeoutMs: 30000 });
    const merged = await runTool('as-merge', ['-q'], { stdin: http.stdout, timeoutMs: 30000 });
    if (merged.code !== 0) throw new Error(`as-merge exit ${merged.code}: ${merged.stderr}`);
    return {
      agent,
      pid: g.pid,
      exitCode,
      stdout: g.stdout(),
      stderr: g.stderr(),
      cwd,
      served,
      requests: mock.requests,
      ssl,
      sslStderr: cap.stderr,
      proc: pr.events as unknown as Array<Record<string, any>>,
      procInvalid: pr.invalid,
      merged: merged.events,
      ms: { agent: agentMs, total: Date.now() - t0 },
      dir,
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    await mock.close();
  }
}

/**
 * The same session under `agentsight exec --no-server -o FILE -- CMD` (the one-process
 * pipeline): the capture file is split back into what traceAgent returns. The agent's pid
 * is the first exec of its command in the capture.
 */
export async function execAgent(
  agent: Agent,
  turns: (cwd: string) => Reply[],
  o: { prompt: string; timeoutMs: number; extraArgs?: string[] },
): Promise<TracedSession> {
  const { toolPath, parseNdjson } = await import('./run.js');
  const t0 = Date.now();
  const { dir, cwd, served, mock, l } = await prepareSession(agent, 'exec', turns, o.prompt);
  try {
    const out = path.join(dir, 'capture.ndjson');
    const child = spawn(
      process.execPath,
      [toolPath('agentsight'), 'exec', '--no-server', '-o', out, ...(o.extraArgs ?? []), '--', ...l.cmd],
      {
        cwd: l.cwd,
        env: l.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, o.timeoutMs);
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        if (timedOut)
          reject(
            new Error(
              `agentsight exec ${agent.name} still running after ${o.timeoutMs} ms (killed); stderr: ${stderr.slice(-1500)}`,
            ),
          );
        else resolve(code ?? 137);
      });
    });
    const ms = Date.now() - t0;
    const events = fs.existsSync(out) ? parseNdjson(fs.readFileSync(out)) : [];
    const { validateEvent } = await import('@agentsight/events');
    const procInvalid = events.map((e) => validateEvent(e)).filter((x): x is string => !!x);
    const proc = events.filter((e) => e.src === 'proc');
    const want = JSON.stringify(l.cmd.slice(1));
    const first = proc
      .filter((e) => e.type === 'exec' && JSON.stringify(e.argv.slice(1)) === want)
      .sort((a, b) => a.ts - b.ts)[0];
    return {
      agent,
      pid: first?.pid ?? -1,
      exitCode,
      stdout,
      stderr,
      cwd,
      served,
      requests: mock.requests,
      ssl: events.filter((e) => e.src === 'ssl'),
      sslStderr: stderr,
      proc,
      procInvalid,
      merged: events.filter((e) => e.src === 'llm' || e.src === 'mcp'),
      ms: { agent: ms, total: ms },
      dir,
    };
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  } finally {
    await mock.close();
  }
}
