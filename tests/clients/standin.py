#!/usr/bin/env python3
"""A scripted upstream that plays an LLM for the real-client tests (stdlib only).

One server speaks both wire formats dario talks to upstreams:
- OpenAI Chat Completions: POST /v1/chat/completions (JSON, or SSE with `data: [DONE]` and, when
  `stream_options.include_usage` is set, the final `choices: []` usage chunk), GET /v1/models;
- Anthropic Messages: POST /v1/messages (JSON or the SSE event sequence), POST
  /v1/messages/count_tokens, GET /v1/models (Anthropic list shape);
- OpenAI Responses: POST /v1/responses (JSON, or the event stream with `sequence_number`s).
Plus HEAD / and GET / (200), as a gateway answers Claude Code's start-up probe.

It decides the next move from the conversation it is sent, deterministically (so a retried request
gets the same answer): the first user text that carries `SCENARIO:<name>` picks a script, and the
number of assistant tool-calling turns already in the conversation is the step in it. Requests
without tools (Claude Code's side requests: titles, summaries) get a short text answer.

Every request is appended to a JSONL log (method, path with query, headers, body, the status it got)
for the tests to assert on. With --reject-mid-system it answers 400, in the wording real servers
use, to any request that carries a `system` message where the server does not accept one: after
the first message on the OpenAI path, anywhere in `messages` on the Anthropic path.

    python3 standin.py --port 0 --log requests.jsonl [--reject-mid-system]

prints `listening 127.0.0.1:PORT` on stdout once it accepts connections.
"""
import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCENARIO_RE = re.compile(r"SCENARIO:([a-z0-9_-]+)(?:\s+PATH=(\S+))?")

# The 400 wordings for a system message where the server refuses one. Claude Code 2.1.332 matches
# both (its mid-conversation-system detector) and then resends the conversation once without
# system messages:
# - Anthropic's own API, for a request without the mid-conversation-system beta;
ANTHROPIC_MID_SYSTEM_ERROR = (
    'messages.{i}: Unexpected role "system". The Messages API accepts a top-level `system` '
    'parameter, not "system" as an input message role.'
)
# - an OpenAI-compatible server whose chat template takes one leading system message.
OPENAI_MID_SYSTEM_ERROR = "messages.{i}: role 'system' must precede any non-system message"

LONG_WORDS = 1500  # the long answer: this many numbered words, streamed a few at a time


def long_answer() -> str:
    words = [f"w{n:04d}" for n in range(1, LONG_WORDS + 1)]
    lines = [" ".join(words[i : i + 15]) for i in range(0, len(words), 15)]
    return "LONG-BEGIN\n" + "\n".join(lines) + "\nLONG-END"


# ---------------------------------------------------------------------------------------------
# The conversation, read from either wire format into one neutral list of items.


def _text_of(content) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    out = []
    for part in content:
        if isinstance(part, dict):
            if part.get("type") == "text":
                out.append(part.get("text", ""))
            elif part.get("type") == "tool_result":
                out.append(_text_of(part.get("content")))
    return "\n".join(out)


def items_from_anthropic(body: dict) -> list:
    items = []
    for m in body.get("messages", []):
        role, content = m.get("role"), m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else (content or [])
        if role == "system":
            items.append(("system", _text_of(content)))
            continue
        calls = []
        for b in blocks:
            t = b.get("type")
            if t == "text":
                items.append((f"{role}_text", b.get("text", "")))
            elif t == "tool_use":
                calls.append({"id": b.get("id"), "name": b.get("name"), "input": b.get("input")})
            elif t == "tool_result":
                items.append(
                    ("tool_result", b.get("tool_use_id"), _text_of(b.get("content")), bool(b.get("is_error")))
                )
        if calls:
            items.append(("tool_calls", calls))
    return items


def items_from_openai(body: dict) -> list:
    items = []
    for m in body.get("messages", []):
        role = m.get("role")
        if role in ("system", "developer"):
            items.append(("system", _text_of(m.get("content"))))
        elif role == "tool":
            text = _text_of(m.get("content"))
            items.append(("tool_result", m.get("tool_call_id"), text, text.startswith("Error")))
        elif role in ("user", "assistant"):
            text = _text_of(m.get("content"))
            if text:
                items.append((f"{role}_text", text))
            calls = []
            for c in m.get("tool_calls") or []:
                fn = c.get("function", {})
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                except ValueError:
                    args = {"unparsable": fn.get("arguments")}
                calls.append({"id": c.get("id"), "name": fn.get("name"), "input": args})
            if calls:
                items.append(("tool_calls", calls))
    return items


def items_from_responses(body: dict) -> list:
    items = []
    inp = body.get("input")
    if isinstance(inp, str):
        inp = [{"type": "message", "role": "user", "content": inp}]
    for it in inp or []:
        t = it.get("type") or ("message" if "role" in it else "")
        if t == "message":
            role = it.get("role")
            c = it.get("content")
            text = c if isinstance(c, str) else "".join(p.get("text", "") for p in c or [])
            if role in ("system", "developer"):
                items.append(("system", text))
            elif text:
                items.append((f"{role}_text", text))
        elif t == "function_call":
            try:
                args = json.loads(it.get("arguments") or "{}")
            except ValueError:
                args = {"unparsable": it.get("arguments")}
            call = {"id": it.get("call_id"), "name": it.get("name"), "input": args}
            if items and items[-1][0] == "tool_calls":
                items[-1][1].append(call)
            else:
                items.append(("tool_calls", [call]))
        elif t == "function_call_output":
            out = it.get("output")
            text = out if isinstance(out, str) else "".join(p.get("text", "") for p in out or [])
            items.append(("tool_result", it.get("call_id"), text, False))
    return items


def tool_names_responses(body):
    return [t.get("name") for t in body.get("tools") or [] if t.get("type") == "function"]


def tool_names_anthropic(body):
    return [t.get("name") for t in body.get("tools") or []]


def tool_names_openai(body):
    return [(t.get("function") or {}).get("name") for t in body.get("tools") or []]


# ---------------------------------------------------------------------------------------------
# The scripts. A move is {"thinking": str?, "text": str?, "tool_calls": [(name, input)]}.


def _results(items):
    """The tool results after the last tool-calling turn, in the order of its calls (a client may
    send parallel results in the order they finished)."""
    out, calls = [], []
    for it in reversed(items):
        if it[0] == "tool_result":
            out.append(it)
        elif it[0] == "tool_calls":
            calls = [c["id"] for c in it[1]]
            break
    order = {cid: k for k, cid in enumerate(calls)}
    return sorted(reversed(out), key=lambda r: order.get(r[1], len(order)))


def _quote(r) -> str:
    return f"{r[2].strip()} [is_error={str(r[3]).lower()}]"


def decide(items: list, tools: list) -> dict:
    scenario, path = None, None
    for it in items:
        if it[0] == "user_text":
            m = SCENARIO_RE.search(it[1])
            if m:
                scenario, path = m.group(1), m.group(2)
                break
    if not tools or scenario is None:
        return {"text": "OK (stand-in)"}
    step = sum(1 for it in items if it[0] == "tool_calls")
    res = _results(items)
    agent_tool = "Agent" if "Agent" in tools else "Task"

    if scenario in ("text",):
        return {"text": "TEXT-OK: the stand-in answers in plain text."}
    if scenario in ("bash", "midsystem"):
        if step == 0:
            return {"tool_calls": [("Bash", {"command": "echo dario-bash-$((6*7))", "description": "Print a marker"})]}
        return {"text": f"BASH-RESULT: {_quote(res[0])}"}
    if scenario == "files":
        if step == 0:
            return {"tool_calls": [("Write", {"file_path": path, "content": "alpha\nbeta\n"})]}
        if step == 1:
            return {"tool_calls": [("Read", {"file_path": path})]}
        if step == 2:
            return {"tool_calls": [("Edit", {"file_path": path, "old_string": "beta", "new_string": "gamma"})]}
        return {"text": f"FILES-DONE: {_quote(res[0])}"}
    if scenario == "parallel":
        if step == 0:
            return {
                "tool_calls": [
                    ("Bash", {"command": "echo par-one", "description": "First"}),
                    ("Bash", {"command": "echo par-two", "description": "Second"}),
                ]
            }
        return {"text": "PARALLEL-RESULTS: " + " | ".join(_quote(r) for r in res)}
    if scenario == "toolerror":
        if step == 0:
            return {"tool_calls": [("Bash", {"command": "echo dario-err-out; exit 3", "description": "Fail"})]}
        return {"text": f"TOOL-FAILED: {_quote(res[0])}"}
    if scenario == "thinking":
        if step == 0:
            return {
                "thinking": "The user wants 6*7; I will let the shell compute it.",
                "tool_calls": [("Bash", {"command": "echo thought-$((6*7))", "description": "Compute"})],
            }
        return {"thinking": "The shell printed the number; now answer.", "text": f"THOUGHT-RESULT: {_quote(res[0])}"}
    if scenario == "long":
        return {"text": long_answer()}
    # Codex CLI's freeform apply_patch tool (offered for GPT models): it creates a file.
    if scenario == "codexpatch":
        if step == 0:
            patch = "*** Begin Patch\n*** Add File: patched.txt\n+patched-by-codex-42\n*** End Patch\n"
            return {"tool_calls": [("apply_patch", {"input": patch})]}
        out = res[0][2] if res else "NO-RESULT"
        return {"text": f"CODEX-PATCHED: {out.strip()[:200]} CODEX-END"}
    # Codex CLI: its shell tool is `exec_command` {cmd}; the command leaves a marker file behind.
    if scenario in ("codexshell", "codexthink"):
        think = scenario == "codexthink"
        if step == 0:
            move = {"text": "I will run the command.",
                    "tool_calls": [("exec_command", {"cmd": "echo dario-codex-$((6*7)) | tee codex-marker.txt"})]}
            if think:
                move["thinking"] = "The shell can compute 6*7 and leave a marker."
            return move
        out = res[0][2] if res else "NO-RESULT"
        seen = "dario-codex-42" if "dario-codex-42" in out else "MARKER-MISSING"
        move = {"text": f"CODEX-RESULT: the shell printed {seen}. This answer streams in several pieces "
                        "so that the client assembles it from many deltas. CODEX-END"}
        if think:
            move["thinking"] = "The command printed its marker; report it."
        return move
    if scenario == "subagent":
        if step == 0:
            return {
                "tool_calls": [
                    (
                        agent_tool,
                        {
                            "description": "Child marker task",
                            "prompt": "SCENARIO:child Run the child command and report what it printed.",
                            "subagent_type": "general-purpose",
                            "run_in_background": False,
                        },
                    )
                ]
            }
        return {"text": f"PARENT-GOT: {res[0][2].strip()}"}
    if scenario == "child":
        if step == 0:
            return {"tool_calls": [("Bash", {"command": "echo child-$((2+3))", "description": "Child marker"})]}
        return {"text": f"CHILD-REPORT: {_quote(res[0])}"}
    return {"text": f"UNKNOWN-SCENARIO {scenario}"}


# ---------------------------------------------------------------------------------------------
# Wire formats.


def _call_id(proto: str, seq: int, k: int) -> str:
    return f"toolu_standin_{seq:04d}_{k}" if proto == "anthropic" else f"call_standin_{seq:04d}_{k}"


def _chunks(text: str, n: int = 4):
    words = re.findall(r"\S+\s*|\s+", text)
    for i in range(0, len(words), n):
        yield "".join(words[i : i + n])


def anthropic_json(move, model, seq):
    content = []
    if move.get("thinking"):
        content.append({"type": "thinking", "thinking": move["thinking"], "signature": f"sig-standin-{seq}"})
    if move.get("text"):
        content.append({"type": "text", "text": move["text"]})
    for k, (name, inp) in enumerate(move.get("tool_calls", [])):
        content.append({"type": "tool_use", "id": _call_id("anthropic", seq, k), "name": name, "input": inp})
    return {
        "id": f"msg_standin_{seq:04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if move.get("tool_calls") else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 20, "cache_read_input_tokens": 0,
                  "cache_creation_input_tokens": 0},
    }


def anthropic_sse(move, model, seq):
    msg = anthropic_json(move, model, seq)
    blocks, msg["content"] = msg["content"], []
    stop = msg["stop_reason"]
    msg["stop_reason"] = None
    msg["usage"] = dict(msg["usage"], output_tokens=1)
    ev = [("message_start", {"type": "message_start", "message": msg})]
    for i, b in enumerate(blocks):
        if b["type"] == "thinking":
            ev.append(("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "thinking", "thinking": "", "signature": ""}}))
            for c in _chunks(b["thinking"]):
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "thinking_delta", "thinking": c}}))
            ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                               "delta": {"type": "signature_delta", "signature": b["signature"]}}))
        elif b["type"] == "text":
            ev.append(("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "text", "text": ""}}))
            for c in _chunks(b["text"]):
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "text_delta", "text": c}}))
        else:
            ev.append(("content_block_start", {"type": "content_block_start", "index": i,
                                               "content_block": {"type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}}))
            js = json.dumps(b["input"])
            for j in range(0, len(js), 12):
                ev.append(("content_block_delta", {"type": "content_block_delta", "index": i,
                                                   "delta": {"type": "input_json_delta", "partial_json": js[j : j + 12]}}))
        ev.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
    ev.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                 "usage": {"output_tokens": 20}}))
    ev.append(("message_stop", {"type": "message_stop"}))
    return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in ev]


def openai_json(move, model, seq):
    msg = {"role": "assistant", "content": move.get("text")}
    if move.get("thinking"):
        msg["reasoning_content"] = move["thinking"]
    calls = [
        {"id": _call_id("openai", seq, k), "type": "function", "function": {"name": n, "arguments": json.dumps(i)}}
        for k, (n, i) in enumerate(move.get("tool_calls", []))
    ]
    if calls:
        msg["tool_calls"] = calls
    return {
        "id": f"chatcmpl-standin-{seq:04d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": msg, "logprobs": None,
                     "finish_reason": "tool_calls" if calls else "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def openai_sse(move, model, seq, include_usage):
    base = {"id": f"chatcmpl-standin-{seq:04d}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta, finish=None):
        return dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])

    out = [chunk({"role": "assistant", "content": ""})]
    if move.get("thinking"):
        out += [chunk({"reasoning_content": c}) for c in _chunks(move["thinking"])]
    if move.get("text"):
        out += [chunk({"content": c}) for c in _chunks(move["text"])]
    calls = move.get("tool_calls", [])
    for k, (name, inp) in enumerate(calls):
        out.append(chunk({"tool_calls": [{"index": k, "id": _call_id("openai", seq, k), "type": "function",
                                          "function": {"name": name, "arguments": ""}}]}))
        js = json.dumps(inp)
        for j in range(0, len(js), 12):
            out.append(chunk({"tool_calls": [{"index": k, "function": {"arguments": js[j : j + 12]}}]}))
    out.append(chunk({}, "tool_calls" if calls else "stop"))
    if include_usage:
        out.append(dict(base, choices=[], usage={"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}))
    return [f"data: {json.dumps(c)}\n\n" for c in out] + ["data: [DONE]\n\n"]


def responses_events(move, model, seq):
    """The Responses API event stream of a move (`event:` lines, `sequence_number` on each)."""
    rid = f"resp_standin_{seq:04d}"
    output, events = [], []

    def ev(name, **data):
        data = {"type": name, "sequence_number": len(events), **data}
        events.append(f"event: {name}\ndata: {json.dumps(data)}\n\n")

    def response(status, out, usage=None):
        return {"id": rid, "object": "response", "created_at": int(time.time()), "status": status,
                "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
                "model": model, "output": out, "parallel_tool_calls": True, "temperature": None,
                "tool_choice": "auto", "tools": [], "top_p": None, "usage": usage}

    ev("response.created", response=response("in_progress", []))
    ev("response.in_progress", response=response("in_progress", []))
    if move.get("thinking"):
        i, iid, t = len(output), f"rs_standin_{seq}_0", move["thinking"]
        ev("response.output_item.added", output_index=i, item={"id": iid, "type": "reasoning", "summary": []})
        ev("response.reasoning_summary_part.added", item_id=iid, output_index=i, summary_index=0,
           part={"type": "summary_text", "text": ""})
        for c in _chunks(t):
            ev("response.reasoning_summary_text.delta", item_id=iid, output_index=i, summary_index=0, delta=c)
        ev("response.reasoning_summary_text.done", item_id=iid, output_index=i, summary_index=0, text=t)
        ev("response.reasoning_summary_part.done", item_id=iid, output_index=i, summary_index=0,
           part={"type": "summary_text", "text": t})
        item = {"id": iid, "type": "reasoning", "summary": [{"type": "summary_text", "text": t}]}
        ev("response.output_item.done", output_index=i, item=item)
        output.append(item)
    if move.get("text"):
        i, iid, t = len(output), f"msg_standin_{seq}_1", move["text"]
        ev("response.output_item.added", output_index=i,
           item={"id": iid, "type": "message", "status": "in_progress", "role": "assistant", "content": []})
        part = {"type": "output_text", "text": "", "annotations": []}
        ev("response.content_part.added", item_id=iid, output_index=i, content_index=0, part=part)
        for c in _chunks(t):
            ev("response.output_text.delta", item_id=iid, output_index=i, content_index=0, delta=c, logprobs=[])
        ev("response.output_text.done", item_id=iid, output_index=i, content_index=0, text=t, logprobs=[])
        part = dict(part, text=t)
        ev("response.content_part.done", item_id=iid, output_index=i, content_index=0, part=part)
        item = {"id": iid, "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        ev("response.output_item.done", output_index=i, item=item)
        output.append(item)
    for k, (name, inp) in enumerate(move.get("tool_calls", [])):
        i, iid, args = len(output), f"fc_standin_{seq}_{k}", json.dumps(inp)
        item = {"id": iid, "type": "function_call", "status": "in_progress", "call_id": _call_id("openai", seq, k),
                "name": name, "arguments": ""}
        ev("response.output_item.added", output_index=i, item=item)
        for j in range(0, len(args), 12):
            ev("response.function_call_arguments.delta", item_id=iid, output_index=i, delta=args[j : j + 12])
        ev("response.function_call_arguments.done", item_id=iid, output_index=i, arguments=args)
        item = dict(item, status="completed", arguments=args)
        ev("response.output_item.done", output_index=i, item=item)
        output.append(item)
    usage = {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 20,
             "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120}
    ev("response.completed", response=response("completed", output, usage))
    return events, response("completed", output, usage)


# ---------------------------------------------------------------------------------------------
# The server.


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr, log_path, reject_mid_system):
        super().__init__(addr, Handler)
        self.log_path = log_path
        self.reject_mid_system = reject_mid_system
        self.lock = threading.Lock()
        self.seq = 0

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def record(self, entry):
        with self.lock:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin/1"

    def log_message(self, *args):
        pass

    def _read_body(self):
        n = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _record(self, body, status):
        self.server.record({
            "t": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
            "status": status,
        })

    def _send(self, status, obj=None, ctype="application/json", extra=None):
        data = b"" if obj is None else (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_sse(self, events):
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for e in events:
            b = e.encode()
            self.wfile.write(f"{len(b):x}\r\n".encode() + b + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_HEAD(self):
        self._record(None, 200)
        self._send(200, b"", "text/plain")

    def do_GET(self):
        path = self.path.split("?")[0]
        if path in ("/", ""):
            self._record(None, 200)
            return self._send(200, b"ok", "text/plain")
        if path.endswith("/models"):
            self._record(None, 200)
            if self.headers.get("anthropic-version"):
                data = [{"type": "model", "id": "claude-sonnet-5-5", "display_name": "Claude Sonnet 5.5",
                         "created_at": "2026-01-01T00:00:00Z"}]
                return self._send(200, {"data": data, "has_more": False, "first_id": data[0]["id"],
                                        "last_id": data[-1]["id"]})
            return self._send(200, {"object": "list", "data": [
                {"id": "llama-3.3-70b", "object": "model", "created": 0, "owned_by": "standin"}]})
        self._record(None, 404)
        self._send(404, {"error": {"type": "not_found_error", "message": f"no route {path}"}})

    def do_POST(self):
        body = self._read_body()
        path = self.path.split("?")[0]
        if not isinstance(body, dict):
            self._record(body, 400)
            return self._send(400, {"error": {"type": "invalid_request_error", "message": "body is not JSON"}})
        if path.endswith("/messages/count_tokens"):
            self._record(body, 200)
            return self._send(200, {"input_tokens": max(1, len(json.dumps(body)) // 4)})
        if path.endswith("/messages"):
            return self._anthropic(body)
        if path.endswith("/chat/completions"):
            return self._openai(body)
        if path.endswith("/responses"):
            return self._responses(body)
        self._record(body, 404)
        self._send(404, {"error": {"type": "not_found_error", "message": f"no route {path}"}})

    def _anthropic(self, body):
        if self.server.reject_mid_system:
            for i, m in enumerate(body.get("messages", [])):
                if m.get("role") == "system":
                    self._record(body, 400)
                    return self._send(400, {"type": "error", "error": {
                        "type": "invalid_request_error", "message": ANTHROPIC_MID_SYSTEM_ERROR.format(i=i)}},
                        extra={"request-id": "req_standin_reject"})
        move = decide(items_from_anthropic(body), tool_names_anthropic(body))
        seq = self.server.next_seq()
        self._record(body, 200)
        model = body.get("model", "")
        if body.get("stream"):
            return self._send_sse(anthropic_sse(move, model, seq))
        self._send(200, anthropic_json(move, model, seq))

    def _openai(self, body):
        if self.server.reject_mid_system:
            for i, m in enumerate(body.get("messages", [])):
                if i > 0 and m.get("role") == "system":
                    self._record(body, 400)
                    return self._send(400, {"error": {"message": OPENAI_MID_SYSTEM_ERROR.format(i=i),
                                                      "type": "invalid_request_error", "param": "messages",
                                                      "code": None}})
        move = decide(items_from_openai(body), tool_names_openai(body))
        seq = self.server.next_seq()
        self._record(body, 200)
        model = body.get("model", "")
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._send_sse(openai_sse(move, model, seq, usage))
        self._send(200, openai_json(move, model, seq))

    def _responses(self, body):
        move = decide(items_from_responses(body), tool_names_responses(body))
        seq = self.server.next_seq()
        self._record(body, 200)
        events, final = responses_events(move, body.get("model", ""), seq)
        if body.get("stream"):
            return self._send_sse(events)
        self._send(200, final)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--reject-mid-system", action="store_true")
    a = ap.parse_args()
    srv = StandIn(("127.0.0.1", a.port), a.log, a.reject_mid_system)
    print(f"listening 127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
