/**
 * @agentsight/llm: as-merge's logic. Turns http exchanges into one `llm`/`call` per model
 * call (Anthropic Messages, OpenAI Chat Completions and compatible servers, OpenAI
 * Responses, Gemini and its Vertex and Code Assist variants; streaming or not), with
 * `llm`/`delta` events when live, and MCP JSON-RPC (via @agentsight/mcp) into `mcp` events.
 * `MergeStage` is the Stage both the standalone tool and `agentsight exec` use. And the
 * normalized call every consumer reads (call.ts), the provider table and the prices.
 */

export { AnthropicAccumulator, anthropic } from './anthropic.js';
export { bedrockConverse, bedrockInvoke, bedrockPath, ConverseAccumulator } from './bedrock.js';
export * from './call.js';
export * from './detect.js';
export { GeminiAccumulator, gemini } from './gemini.js';
export * from './merge.js';
export { OpenAIChatAccumulator, openaiChat } from './openai-chat.js';
export { OpenAIResponsesAccumulator, openaiResponses } from './openai-responses.js';
export * from './prices.js';
export * from './providers.js';
export * from './result.js';
