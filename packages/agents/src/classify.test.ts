import t from 'tap';
import { classify, classifyByTraffic, programPaths } from './classify.js';
import { AGENTS } from './table.js';

const id = (f: Parameters<typeof classify>[0]) => {
  const a = classify(f);
  return a && `${a.id}/${a.via}`;
};

t.test('native binaries: by install path, then by name', async (t) => {
  // The native installer: ~/.local/bin/claude -> ~/.local/share/claude/versions/2.1.197
  t.equal(
    id({ exe: '/home/ana/.local/share/claude/versions/2.1.197', argv: ['claude', '-p', 'hi'], comm: 'claude' }),
    'claude-code/path',
  );
  // npm's platform package, as .cache/agents holds it
  t.equal(
    id({
      exe: '/work/main/.cache/agents/node_modules/@anthropic-ai/claude-code-linux-x64/claude',
      argv: ['/work/main/.cache/agents/node_modules/@anthropic-ai/claude-code-linux-x64/claude', '-p', 'say hello'],
      comm: 'claude',
    }),
    'claude-code/path',
  );
  t.equal(id({ exe: '/opt/bin/claude', argv: ['claude'], comm: 'claude' }), 'claude-code/exe');
  t.equal(
    id({
      exe: '/usr/lib/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex',
      argv: ['codex', 'exec', 'fix it'],
    }),
    'codex/path',
  );
  t.equal(id({ exe: '/usr/local/bin/codex', argv: ['codex', 'exec', 'x'], comm: 'codex' }), 'codex/exe');
  t.equal(id({ exe: '/home/u/.opencode/bin/opencode', argv: ['opencode', 'run', 'x'] }), 'opencode/path');
  t.equal(id({ exe: '/usr/local/bin/goose', argv: ['goose', 'session'], comm: 'goose' }), 'goose/exe');
  t.equal(id({ exe: '/usr/local/bin/goose', argv: ['goose'], comm: 'goose' }), 'goose/exe');
  // pressly/goose, the migration tool, shares the name
  t.equal(id({ exe: '/usr/local/bin/goose', argv: ['goose', 'postgres', 'dbstring', 'up'], comm: 'goose' }), undefined);
  t.equal(
    id({
      exe: '/root/.local/share/cursor-agent/versions/2025.09.18-7ae6800/node',
      argv: [
        '/root/.local/share/cursor-agent/versions/2025.09.18-7ae6800/node',
        '--use-system-ca',
        '/root/.local/share/cursor-agent/versions/2025.09.18-7ae6800/index.js',
      ],
      comm: 'node',
    }),
    'cursor-agent/path',
  );
});

t.test('node and python programs: the script an interpreter runs', async (t) => {
  const node = '/usr/bin/node';
  t.equal(
    id({ exe: node, argv: ['node', '/usr/lib/node_modules/@google/gemini-cli/dist/index.js', '-p', 'hi'] }),
    'gemini-cli/path',
  );
  // Gemini CLI relaunching itself with a bigger heap
  t.equal(
    id({
      exe: node,
      argv: [
        node,
        '--max-old-space-size=8192',
        '/work/main/.cache/agents/gemini/node_modules/@google/gemini-cli/bundle/gemini.js',
        '-p',
        'x',
      ],
    }),
    'gemini-cli/path',
  );
  // Started through the bin symlink: the kernel passes the script path as run
  t.equal(id({ exe: node, argv: ['node', '/usr/local/bin/gemini', '--yolo'] }), 'gemini-cli/argv');
  t.equal(
    id({ exe: node, argv: ['node', '/usr/lib/node_modules/@anthropic-ai/claude-code/cli.js'] }),
    'claude-code/path',
  );
  t.equal(
    id({ exe: node, argv: ['node', '/usr/lib/node_modules/@openai/codex/bin/codex.js', 'exec', 'x'] }),
    'codex/path',
  );
  t.equal(id({ exe: node, argv: ['node', '/usr/lib/node_modules/@qwen-code/qwen-code/cli.js'] }), 'qwen-code/path');
  t.equal(id({ exe: node, argv: ['node', '/usr/lib/node_modules/@github/copilot/index.js'] }), 'copilot-cli/path');
  t.equal(id({ exe: node, argv: ['node', '/usr/lib/node_modules/@sourcegraph/amp/dist/main.js'] }), 'amp/path');
  t.equal(id({ exe: node, argv: ['node', '/home/u/.npm-global/bin/amp'] }), 'amp/argv');
  t.equal(
    id({
      exe: '/usr/bin/python3.11',
      argv: ['/home/u/.local/pipx/venvs/aider-chat/bin/python', '/home/u/.local/bin/aider', '--model', 'x'],
    }),
    'aider/path',
  );
  t.equal(id({ exe: '/usr/bin/python3.11', argv: ['python3', '/home/u/bin/aider'] }), 'aider/argv');
  t.equal(id({ exe: '/usr/bin/python3.11', argv: ['python3', '-m', 'aider', '--yes'] }), 'aider/argv');
  t.equal(
    id({ exe: '/usr/bin/bun', argv: ['bun', 'run', '/srv/x/node_modules/@google/gemini-cli/dist/index.js'] }),
    'gemini-cli/path',
  );
  // A node agent that renamed itself (process.title): the comm names it
  t.equal(id({ exe: node, argv: ['node', '/opt/weird/entry.js'], comm: 'claude' }), 'claude-code/exe');
});

t.test('not agents', async (t) => {
  t.equal(id({ exe: '/usr/bin/node', argv: ['node', 'server.js'], comm: 'node' }), undefined);
  t.equal(id({ exe: '/usr/bin/node', argv: ['node', '-e', 'require("gemini")'], comm: 'node' }), undefined);
  t.equal(id({ exe: '/usr/bin/python3', argv: ['python3', '-c', 'import aider'], comm: 'python3' }), undefined);
  t.equal(id({ exe: '/usr/bin/curl', argv: ['curl', 'https://api.anthropic.com'], comm: 'curl' }), undefined);
  t.equal(id({ exe: '/bin/bash', argv: ['bash', '-c', 'claude -p hi'], comm: 'bash' }), undefined);
  t.equal(id({ argv: [] }), undefined);
  t.equal(id({}), undefined);
});

t.test('programPaths: executable, argv[0] when a path, and the script', async (t) => {
  t.same(programPaths({ exe: '/usr/bin/python3.11', argv: ['python3', '/srv/agent.py', '-v'] }), [
    '/usr/bin/python3.11',
    '/srv/agent.py',
  ]);
  t.same(programPaths({ exe: '/usr/bin/node', argv: ['/usr/bin/node', '-r', 'x', 'a.js'] }), ['/usr/bin/node', 'a.js']);
  t.same(programPaths({ argv: ['claude'] }), []);
});

t.test('classifyByTraffic: a known User-Agent names the agent, else the call makes an LLM client', async (t) => {
  const ua = (s: string, provider = 'anthropic') => classifyByTraffic({ headers: { 'user-agent': s }, provider });
  t.same(ua('claude-cli/2.1.197 (external, cli)'), { id: 'claude-code', name: 'Claude Code', via: 'user-agent' });
  t.equal(ua('GeminiCLI/0.61.0 (linux; x64)', 'gemini')?.id, 'gemini-cli');
  // what 0.61.0 sends from a terminal (seen by the mock in test/discover-agents.test.ts)
  t.equal(ua('GeminiCLI-tui/0.61.0/gemini-3.1-pro-preview (linux; x64; terminal)', 'gemini')?.id, 'gemini-cli');
  t.equal(ua('codex_cli_rs/0.169.0 (Debian 12.0.0; x86_64) xterm', 'openai')?.id, 'codex');
  t.equal(ua('QwenCode/0.0.14 (linux; x64)', 'openai')?.id, 'qwen-code');
  t.equal(ua('Anthropic/Python 0.69.0')?.id, 'anthropic-sdk-python');
  t.equal(ua('Anthropic/JS 0.65.0')?.id, 'anthropic-sdk-node');
  t.equal(ua('OpenAI/Python 1.109.1', 'openai')?.id, 'openai-sdk-python');
  t.equal(ua('OpenAI/JS 6.49.0', 'openai')?.id, 'openai-sdk-node');
  t.equal(
    classifyByTraffic({
      headers: { 'x-goog-api-client': 'google-genai-sdk/1.30.0 gl-python/3.11.2' },
      provider: 'gemini',
    })?.id,
    'google-genai-sdk',
  );
  // The agent's own token wins over the SDK it is built on, wherever it stands
  t.equal(ua('google-genai-sdk/1.30.0 gl-node/v20 GeminiCLI/0.61.0', 'gemini')?.id, 'gemini-cli');
  t.same(ua('curl/8.5.0'), { id: 'llm-client', name: 'curl (anthropic)', via: 'traffic' });
  t.same(classifyByTraffic({ provider: 'openai', comm: 'python3' }), {
    id: 'llm-client',
    name: 'python3 (openai)',
    via: 'traffic',
  });
  t.equal(classifyByTraffic({ headers: { 'user-agent': 'curl/8' } }), undefined, 'no call, no verdict');
  t.equal(ua('Mozilla/5.0 claude-cli-like')?.id, 'llm-client', 'a token, not a substring');
});

t.test('the table: ids unique, every row recognisable somehow', async (t) => {
  const ids = AGENTS.map((a) => a.id);
  t.equal(new Set(ids).size, ids.length);
  for (const a of AGENTS) t.ok(a.names?.length || a.paths?.length || a.userAgents?.length, a.id);
});
