// A real MCP server over stdio, built with the official SDK: the process as-stdiocap
// watches in test/mcp.test.ts. Tools: add (small result) and blob (a large one).
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const server = new Server({ name: 'agentsight-test-server', version: '1.0.0' }, { capabilities: { tools: {} } });

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    {
      name: 'add',
      description: 'Add two numbers',
      inputSchema: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
      },
    },
    {
      name: 'blob',
      description: 'A long text, to exercise large writes',
      inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
    },
  ],
}));

server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const args = (req.params.arguments ?? {}) as Record<string, number>;
  if (req.params.name === 'add') return { content: [{ type: 'text', text: String(args.a! + args.b!) }] };
  if (req.params.name === 'blob') {
    // Multi-byte UTF-8 throughout, so a split inside a character would show.
    const unit = 'façade 😀 naïve — ';
    return { content: [{ type: 'text', text: unit.repeat(Math.ceil(args.n! / unit.length)).slice(0, args.n!) }] };
  }
  return { content: [{ type: 'text', text: `unknown tool ${req.params.name}` }], isError: true };
});

await server.connect(new StdioServerTransport());
