#!/usr/bin/env python3
"""A small agent loop on Python's standard library only: http.client over HTTPS (the ssl
module, i.e. the system's dynamic libssl.so.3) to an Anthropic Messages API endpoint. It
sends the prompt, runs the tools the model asks for (a shell command via subprocess, a file
write) and sends the results back until the model answers in text. Nothing here knows it
is being traced.

  python3 py-agent.py [--base-url URL] [--model M] [--stream] [--max-turns N] PROMPT

Trust for a local HTTPS server comes from SSL_CERT_FILE (OpenSSL's default verify paths).
The base URL defaults to $ANTHROPIC_BASE_URL; the key to $ANTHROPIC_API_KEY.
"""
import argparse
import http.client
import json
import os
import ssl
import subprocess
import sys
import urllib.parse

TOOLS = [
    {"name": "bash", "description": "Run a shell command and return its output",
     "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}},
    {"name": "write_file", "description": "Write text to a file",
     "input_schema": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                      "required": ["path", "content"]}},
]


def run_tool(name, args):
    """(output, is_error) of one tool call."""
    try:
        if name == "bash":
            p = subprocess.run(["/bin/sh", "-c", str(args.get("command", ""))], capture_output=True, text=True, timeout=30)
            out = p.stdout + p.stderr
            return (out if p.returncode == 0 else f"exit {p.returncode}\n{out}"), p.returncode != 0
        if name == "write_file":
            content = str(args.get("content", ""))
            with open(str(args["path"]), "w", encoding="utf-8") as f:
                f.write(content)
            return f"wrote {len(content)} bytes to {args['path']}", False
        return f"unknown tool {name}", True
    except Exception as e:  # a failing tool is reported to the model, as real agents do
        return f"{type(e).__name__}: {e}", True


def read_sse(resp):
    """Accumulate a Messages API event stream into the message it describes."""
    msg = {"content": [], "stop_reason": None, "usage": {}}
    partial = {}
    data = []
    for raw in resp:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
            continue
        if line or not data:
            continue
        ev = json.loads("\n".join(data))
        data = []
        t = ev.get("type")
        if t == "message_start":
            m = ev["message"]
            msg.update({k: m[k] for k in ("id", "model", "role") if k in m})
            msg["usage"].update(m.get("usage") or {})
        elif t == "content_block_start":
            msg["content"].append(dict(ev["content_block"]))
            if ev["content_block"]["type"] == "tool_use":
                partial[ev["index"]] = ""
        elif t == "content_block_delta":
            d, block = ev["delta"], msg["content"][ev["index"]]
            if d["type"] == "text_delta":
                block["text"] = block.get("text", "") + d["text"]
            elif d["type"] == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + d["thinking"]
            elif d["type"] == "input_json_delta":
                partial[ev["index"]] += d["partial_json"]
        elif t == "content_block_stop":
            if ev["index"] in partial:
                s = partial.pop(ev["index"])
                msg["content"][ev["index"]]["input"] = json.loads(s) if s else {}
        elif t == "message_delta":
            msg["stop_reason"] = ev["delta"].get("stop_reason")
            msg["usage"].update(ev.get("usage") or {})
        elif t == "error":
            raise RuntimeError(f"stream error: {ev.get('error')}")
        elif t == "message_stop":
            break
    return msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", default=os.environ.get("ANTHROPIC_BASE_URL", "https://api.anthropic.com"))
    ap.add_argument("--model", default="claude-haiku-4-5")
    ap.add_argument("--stream", action="store_true")
    ap.add_argument("--max-turns", type=int, default=8)
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("prompt", nargs="*")
    a = ap.parse_args()
    prompt = " ".join(a.prompt) or "List the files here, then write a summary to notes.txt."

    u = urllib.parse.urlsplit(a.base_url)
    ctx = ssl.create_default_context()
    # One keep-alive connection for the whole session, as SDK clients do.
    conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=ctx, timeout=a.timeout)
    path = u.path.rstrip("/") + "/v1/messages"
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01",
               "x-api-key": os.environ.get("ANTHROPIC_API_KEY", "sk-ant-demo-key"), "user-agent": "py-agent/1"}
    messages = [{"role": "user", "content": prompt}]
    for _ in range(a.max_turns):
        body = {"model": a.model, "max_tokens": 1024, "system": "You are a careful coding agent.",
                "messages": messages, "tools": TOOLS}
        if a.stream:
            body["stream"] = True
        conn.request("POST", path, json.dumps(body), headers)
        resp = conn.getresponse()
        if resp.status != 200:
            sys.stderr.write(f"py-agent: HTTP {resp.status}: {resp.read()[:500]!r}\n")
            return 1
        msg = read_sse(resp) if a.stream else json.loads(resp.read())
        if a.stream:
            resp.read()  # drain the terminating chunk so the connection can be reused
        messages.append({"role": "assistant", "content": msg["content"]})
        uses = [b for b in msg["content"] if b.get("type") == "tool_use"]
        if not uses:
            print("".join(b.get("text", "") for b in msg["content"] if b.get("type") == "text"))
            return 0
        results = []
        for u_ in uses:
            out, err = run_tool(u_["name"], u_.get("input") or {})
            results.append({"type": "tool_result", "tool_use_id": u_["id"], "content": out, "is_error": err})
        messages.append({"role": "user", "content": results})
    print("(turn limit reached)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
