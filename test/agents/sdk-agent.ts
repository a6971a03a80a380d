#!/usr/bin/env node
// A small but real agent loop on the official SDKs: it sends the prompt, runs the tools the
// model asks for (a shell command, a file write) and sends the results back until the model
// answers in text. Used by the demo and the end-to-end tests as "an agent we did not write
// for agentsight": nothing here knows it is being traced.
//
//   node sdk-agent.js [--provider anthropic|openai] [--base-url URL] [--model M] PROMPT
// Trust for a local HTTPS server comes from NODE_EXTRA_CA_CERTS, as for any Node program.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = argv[i + 1]!;
  argv.splice(i, 2);
  return v;
};
const provider = opt('provider', 'anthropic');
const baseURL = opt('base-url', process.env.AGENT_BASE_URL ?? 'https://127.0.0.1:8443');
const model = opt('model', provider === 'anthropic' ? 'claude-haiku-4-5' : 'gpt-4o-mini');
const maxTurns = Number(opt('max-turns', '8'));
const prompt = argv.join(' ') || 'List the files here, then write a summary to notes.txt.';

interface ToolResult {
  output: string;
  isError: boolean;
}

function runTool(name: string, input: Record<string, unknown>): ToolResult {
  try {
    if (name === 'bash') {
      const out = execFileSync('/bin/sh', ['-c', String(input.command ?? '')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 30_000,
      });
      return { output: out, isError: false };
    }
    if (name === 'write_file') {
      fs.writeFileSync(String(input.path), String(input.content ?? ''));
      return { output: `wrote ${String(input.content ?? '').length} bytes to ${input.path}`, isError: false };
    }
    return { output: `unknown tool ${name}`, isError: true };
  } catch (e) {
    const err = e as { status?: number; stdout?: string; stderr?: string; message: string };
    return { output: `exit ${err.status ?? '?'}\n${err.stdout ?? ''}${err.stderr ?? err.message}`, isError: true };
  }
}

const TOOLS = [
  {
    name: 'bash',
    description: 'Run a shell command and return its output',
    schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
  {
    name: 'write_file',
    description: 'Write text to a file',
    schema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
  },
] as const;

async function anthropicLoop(): Promise<string> {
  const client = new Anthropic({ baseURL, apiKey: process.env.ANTHROPIC_API_KEY ?? 'sk-ant-demo-key', maxRetries: 0 });
  const messages: Anthropic.MessageParam[] = [{ role: 'user', content: prompt }];
  for (let turn = 0; turn < maxTurns; turn++) {
    const msg = await client.messages
      .stream({
        model,
        max_tokens: 1024,
        system: 'You are a careful coding agent.',
        messages,
        tools: TOOLS.map((t) => ({
          name: t.name,
          description: t.description,
          input_schema: t.schema as unknown as Anthropic.Tool.InputSchema,
        })),
      })
      .finalMessage();
    messages.push({ role: 'assistant', content: msg.content });
    const uses = msg.content.filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use');
    if (!uses.length)
      return msg.content
        .filter((b): b is Anthropic.TextBlock => b.type === 'text')
        .map((b) => b.text)
        .join('');
    messages.push({
      role: 'user',
      content: uses.map((u) => {
        const r = runTool(u.name, u.input as Record<string, unknown>);
        return { type: 'tool_result' as const, tool_use_id: u.id, content: r.output, is_error: r.isError };
      }),
    });
  }
  return '(turn limit reached)';
}

async function openaiLoop(): Promise<string> {
  const client = new OpenAI({
    baseURL: `${baseURL.replace(/\/$/, '')}/v1`,
    apiKey: process.env.OPENAI_API_KEY ?? 'sk-demo-key',
    maxRetries: 0,
  });
  const messages: OpenAI.ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You are a careful coding agent.' },
    { role: 'user', content: prompt },
  ];
  for (let turn = 0; turn < maxTurns; turn++) {
    const done = await client.chat.completions
      .stream({
        model,
        messages,
        stream_options: { include_usage: true },
        tools: TOOLS.map((t) => ({
          type: 'function' as const,
          function: {
            name: t.name,
            description: t.description,
            parameters: t.schema as unknown as Record<string, unknown>,
          },
        })),
      })
      .finalChatCompletion();
    const m = done.choices[0]!.message;
    messages.push(m as OpenAI.ChatCompletionMessageParam);
    const calls = (m.tool_calls ?? []).filter((c) => c.type === 'function');
    if (!calls.length) return m.content ?? '';
    for (const c of calls) {
      let args: Record<string, unknown> = {};
      try {
        args = JSON.parse(c.function.arguments || '{}');
      } catch {
        /* model sent bad JSON: run with none */
      }
      const r = runTool(c.function.name, args);
      messages.push({ role: 'tool', tool_call_id: c.id, content: r.output });
    }
  }
  return '(turn limit reached)';
}

const answer = provider === 'openai' ? await openaiLoop() : await anthropicLoop();
process.stdout.write(answer + '\n');
// For benchmarks: the agent's own run time, from process start, without any tracer's set-up.
if (process.env.AGENT_TIMING) process.stderr.write(`agent-ms: ${performance.now().toFixed(1)}\n`);
