// The normalized conversation (@agentsight/llm) in the GenAI conventions' message JSON
// (gen_ai.input.messages, gen_ai.output.messages, gen_ai.system_instructions).
// Parts: {type:"text",content}, {type:"tool_call",id,name,arguments},
// {type:"tool_call_response",id,result}, {type:"reasoning",content}.
import type { LlmApi, LlmCallEvent } from '@agentsight/events';
import {
  type Part as CallPart,
  finishReasonOf,
  type Message,
  messagesOf,
  outputOf,
  systemOf,
  type ToolResultPart,
} from '@agentsight/llm';

export type Part = Record<string, unknown> & { type: string };
export interface ChatMessage {
  role: string;
  parts: Part[];
  finish_reason?: string;
}

/** A part as the conventions have it: agentsight's own markers (injected, is_error) left out. */
function otelPart(p: CallPart): Part {
  if (p.type === 'text') return { type: 'text', content: (p as { content: string }).content };
  if (p.type === 'tool_call_response') {
    const r = p as ToolResultPart;
    return { type: r.type, id: r.id, ...(r.name !== undefined ? { name: r.name } : {}), result: r.result };
  }
  return p as unknown as Part;
}

const otelMessage = (m: Message): ChatMessage => ({ role: m.role, parts: m.parts.map(otelPart) });

/** The chat history sent to the model, in the conventions' input-messages shape. */
export function inputMessages(api: LlmApi, messages: unknown[] | undefined): ChatMessage[] {
  return messagesOf(api, messages).map(otelMessage);
}

/** System instructions given apart from the history, as text parts. */
export function systemInstructions(system: unknown): Part[] | undefined {
  return systemOf(system)?.map(otelPart);
}

/** The model's answer as one assistant message (one choice). */
export function outputMessages(ev: LlmCallEvent): ChatMessage[] {
  const msg = otelMessage(outputOf(ev));
  const fr = finishReasonOf(ev.response.finish_reason);
  if (fr) msg.finish_reason = fr;
  return [msg];
}
