"""The real Claude Code CLI (pinned by scripts/install-clients) driven through `dario proxy`.

Each test runs `claude -p … --output-format json` against dario in front of the scripted stand-in
upstream (standin.py), once per lane:
- "translated": an OpenAI-protocol backend serving `llama-*`, model `llama-3.3-70b` — dario
  translates Claude Code's Anthropic requests to Chat Completions and the answers back;
- "passthrough": an Anthropic-protocol backend serving `claude-*`, model `claude-sonnet-5-5`.
Each asserts on what Claude Code concluded (its JSON result, files it wrote) and on what reached
the stand-in. Everything runs in a loopback-only network namespace (conftest.py).
"""
import json
import subprocess

import pytest

from harness import ClaudeRun, claude_env, run_claude
from standin import long_answer

LANES = {
    "translated": ("openai", "llama-3.3-70b"),
    "passthrough": ("anthropic", "claude-sonnet-5-5"),
}


@pytest.fixture(params=list(LANES))
def lane(request, lane_factory):
    protocol, model = LANES[request.param]
    reject = request.node.get_closest_marker("reject_mid_system") is not None
    ln = lane_factory(protocol, reject_mid_system=reject)
    ln.name, ln.model = request.param, model
    return ln


@pytest.fixture
def claude(lane, netns, claude_bin, tmp_path):
    def go(prompt, tools=(), **kw):
        r = run_claude(netns, claude_bin, lane.base_url, tmp_path, prompt, lane.model, tools, **kw)
        assert r.json is not None, r.explain() + "\ndario: " + "".join(lane.dario_log or [])[-3000:]
        assert r.json.get("is_error") is False and r.json.get("subtype") == "success", (
            r.explain() + "\ndario: " + "".join(lane.dario_log or [])[-3000:]
        )
        return r

    return go


# ---- views of what reached the stand-in ------------------------------------------------------


def main_requests(lane):
    """Completion requests that carried tools: Claude Code's agent loop (not its side requests)."""
    return [e for e in lane.model_requests() if e["status"] == 200 and e["body"].get("tools")]


def tool_names(lane, e):
    b = e["body"]
    if lane.protocol == "openai":
        return [t["function"]["name"] for t in b["tools"]]
    return [t["name"] for t in b["tools"]]


def tool_results(lane, e):
    """[(call id, text, is_error)] of the tool results in the last turn of a request."""
    msgs = e["body"]["messages"]
    out = []
    if lane.protocol == "openai":
        for m in reversed(msgs):
            if m["role"] == "tool":
                c = m["content"]
                if isinstance(c, list):
                    c = "".join(p.get("text", "") for p in c)
                out.append((m["tool_call_id"], c, c.startswith("Error")))
            elif m["role"] == "assistant":
                break
        return list(reversed(out))
    for m in reversed(msgs):
        if m["role"] == "user" and isinstance(m["content"], list):
            for b in m["content"]:
                if b.get("type") == "tool_result":
                    c = b.get("content")
                    if isinstance(c, list):
                        c = "".join(p.get("text", "") for p in c)
                    out.append((b["tool_use_id"], c or "", bool(b.get("is_error"))))
            if out:
                break
        if m["role"] == "assistant":
            break
    return out


def tool_calls(lane, e):
    """[(id, name, input)] of every assistant tool call in a request's conversation."""
    out = []
    for m in e["body"]["messages"]:
        if m["role"] != "assistant":
            continue
        if lane.protocol == "openai":
            for c in m.get("tool_calls") or []:
                out.append((c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])))
        elif isinstance(m["content"], list):
            for b in m["content"]:
                if b.get("type") == "tool_use":
                    out.append((b["id"], b["name"], b["input"]))
    return out


def all_text(obj) -> str:
    return json.dumps(obj)


def check_common(lane):
    """What every request of a session must look like upstream."""
    reqs = lane.model_requests()
    assert reqs, "no completion request reached the stand-in"
    for e in reqs:
        b, h = e["body"], e["headers"]
        if lane.protocol == "openai":
            assert e["path"] == "/v1/chat/completions", e["path"]
            assert b["model"] == "llama-3.3-70b"
            assert h.get("authorization") == "Bearer sk-placeholder-openai-0001"
            assert "x-api-key" not in h, "the client's Anthropic key must not reach an OpenAI upstream"
            assert b.get("stream") is True, "Claude Code streams; dario streams upstream"
            assert b.get("stream_options") == {"include_usage": True}
            # Only Chat Completions fields; nothing of the Anthropic request leaks through.
            for k in ("system", "thinking", "output_config", "context_management", "metadata", "anthropic_beta"):
                assert k not in b, f"{k} sent to an OpenAI upstream"
            # The attribution line stays away from non-Anthropic upstreams.
            assert "x-anthropic-billing-header" not in all_text(b)
            roles = [m["role"] for m in b["messages"]]
            assert roles[0] == "system", roles
            assert set(roles) <= {"system", "user", "assistant", "tool"}, roles
            if b.get("tools"):
                names = [t["function"]["name"] for t in b["tools"]]
                assert all(t["type"] == "function" for t in b["tools"])
                assert "DeferredToolPlaceholder" not in names, "the placeholder tool must never be offered"
                assert "Bash" in names
        else:
            assert e["path"].split("?")[0] == "/v1/messages", e["path"]
            assert b["model"] == "claude-sonnet-5-5"
            assert h.get("anthropic-version") == "2023-06-01"
            assert "claude-code-20250219" in h.get("anthropic-beta", "")
            assert h.get("x-claude-code-session-id")
            assert h.get("user-agent", "").startswith("claude-cli/")
            assert b.get("stream") is True
    if lane.protocol == "anthropic":
        # Passthrough keeps the query: Claude Code asks for `?beta=true`.
        assert [e["path"] for e in reqs] == ["/v1/messages?beta=true"] * len(reqs)


# ---- the scenarios ---------------------------------------------------------------------------


def test_text_answer(claude, lane):
    r = claude("SCENARIO:text Say something.")
    assert r.result == "TEXT-OK: the stand-in answers in plain text."
    check_common(lane)
    first = main_requests(lane)[0]["body"]
    if lane.protocol == "openai":
        # Every system instruction reaches the model, in order: the top-level system prompt first,
        # then the context Claude Code puts in `role: "system"` messages inside `messages`.
        sys_text = "\n".join(
            m["content"] if isinstance(m["content"], str) else "".join(p.get("text", "") for p in m["content"])
            for m in first["messages"] if m["role"] == "system"
        )
        assert "You are a Claude agent" in sys_text
        assert "# Environment" in all_text(first["messages"]), "the environment context was lost"
        assert sys_text.index("You are a Claude agent") < all_text(first).index("# Environment")
        user = [m for m in first["messages"] if m["role"] == "user"]
        assert "SCENARIO:text" in all_text(user)
    else:
        # Passthrough: today's request features arrive as Claude Code sent them.
        assert first["thinking"]["type"] == "adaptive"
        assert "effort" in first["output_config"]
        assert first["context_management"]["edits"][0]["type"].startswith("clear_thinking")
        assert any(m["role"] == "system" for m in first["messages"]), "mid-conversation system messages"
        assert first["system"][0]["text"].startswith("x-anthropic-billing-header:")
        assert any(t.get("defer_loading") for t in first["tools"])


def test_bash_round_trip(claude, lane):
    r = claude("SCENARIO:bash Run the marker command.", ["Bash"])
    assert r.result == "BASH-RESULT: dario-bash-42 [is_error=false]"
    check_common(lane)
    reqs = main_requests(lane)
    assert len(reqs) == 2, [e["path"] for e in reqs]
    (cid, name, inp), = tool_calls(lane, reqs[1])
    assert name == "Bash" and inp["command"] == "echo dario-bash-$((6*7))"
    (rid, text, err), = tool_results(lane, reqs[1])
    assert rid == cid and "dario-bash-42" in text and not err


def test_read_write_edit(claude, lane, tmp_path):
    target = tmp_path / "cwd" / "notes.txt"
    target.parent.mkdir(exist_ok=True)
    r = claude(f"SCENARIO:files PATH={target} Create, read and edit the file.", ["Read", "Write", "Edit"])
    assert target.read_text() == "alpha\ngamma\n"
    assert r.result.startswith("FILES-DONE: ") and "[is_error=false]" in r.result, r.result
    check_common(lane)
    reqs = main_requests(lane)
    assert len(reqs) == 4
    names = [c[1] for c in tool_calls(lane, reqs[-1])]
    assert names == ["Write", "Read", "Edit"]
    # The Read result (the third request's tool result) showed the file as written.
    (_, read_text, err), = tool_results(lane, reqs[2])
    assert "alpha" in read_text and "beta" in read_text and not err


def test_parallel_tool_calls(claude, lane):
    r = claude("SCENARIO:parallel Run both.", ["Bash"])
    assert r.result == "PARALLEL-RESULTS: par-one [is_error=false] | par-two [is_error=false]"
    check_common(lane)
    reqs = main_requests(lane)
    assert len(reqs) == 2
    calls = tool_calls(lane, reqs[1])
    assert [c[2]["command"] for c in calls] == ["echo par-one", "echo par-two"]
    if lane.protocol == "openai":
        # Both calls in one assistant message, both results as tool messages right after it.
        asst = [m for m in reqs[1]["body"]["messages"] if m["role"] == "assistant" and m.get("tool_calls")]
        assert len(asst) == 1 and len(asst[0]["tool_calls"]) == 2
    # One result for each call, matched by id (in whichever order the tools finished).
    results = {x[0]: x[1] for x in tool_results(lane, reqs[1])}
    assert set(results) == {c[0] for c in calls}
    assert "par-one" in results[calls[0][0]] and "par-two" in results[calls[1][0]]


def test_tool_error(claude, lane):
    r = claude("SCENARIO:toolerror Run the failing command.", ["Bash"])
    assert r.result.startswith("TOOL-FAILED: ") and r.result.endswith("[is_error=true]"), r.result
    assert "Exit code 3" in r.result and "dario-err-out" in r.result
    check_common(lane)
    reqs = main_requests(lane)
    (_, text, err), = tool_results(lane, reqs[1])
    assert err, f"the failed tool's result is not marked as an error upstream: {text!r}"
    if lane.protocol == "openai":
        assert text.startswith("Error: ")


def test_thinking_answer(claude, lane):
    r = claude("SCENARIO:thinking Think, then compute.", ["Bash"])
    assert r.result == "THOUGHT-RESULT: thought-42 [is_error=false]"
    check_common(lane)
    reqs = main_requests(lane)
    assert len(reqs) == 2
    if lane.protocol == "openai":
        # Thinking is never sent back to an OpenAI upstream.
        assert "reasoning_content" not in all_text(reqs[1]["body"]["messages"])
        assert "let the shell compute it" not in all_text(reqs[1]["body"]["messages"])
    else:
        # The signed thinking block goes back with the tool result, as Anthropic requires.
        asst = [m for m in reqs[1]["body"]["messages"] if m["role"] == "assistant"][-1]
        thinking = [b for b in asst["content"] if b["type"] == "thinking"]
        assert thinking and thinking[0]["signature"].startswith("sig-standin-")
        assert "let the shell compute it" in thinking[0]["thinking"]


def test_long_streamed_answer(claude, lane):
    r = claude("SCENARIO:long Write a long answer.")
    assert r.result == long_answer()
    check_common(lane)


def test_subagent_round_trip(claude, lane):
    r = claude("SCENARIO:subagent Delegate to a sub-agent.", ["Agent", "Task", "Bash"])
    assert r.result.startswith("PARENT-GOT: "), r.result
    assert "CHILD-REPORT: child-5 [is_error=false]" in r.result
    check_common(lane)
    reqs = main_requests(lane)
    child = [e for e in reqs if "SCENARIO:child" in all_text([m for m in e["body"]["messages"] if m["role"] == "user"][:1])]
    parent = [e for e in reqs if e not in child]
    assert len(child) == 2 and len(parent) == 2, (len(child), len(parent))
    assert tool_calls(lane, parent[1])[0][1] in ("Agent", "Task")
    (_, text, _), = tool_results(lane, parent[1])
    assert "child-5" in text
    if lane.protocol == "anthropic":
        for e in child:
            assert e["headers"].get("x-claude-code-agent-id")
        assert parent[0]["headers"]["x-claude-code-session-id"] == child[0]["headers"]["x-claude-code-session-id"]


@pytest.mark.reject_mid_system
def test_upstream_rejects_mid_conversation_system(claude, lane):
    """The stand-in refuses `system` messages where real servers do (not first on the OpenAI path,
    anywhere in `messages` on the Anthropic path) with the wording real servers use. The session
    still completes: dario does not send them where the backend refuses them, or Claude Code
    recognises the error and resends without them."""
    r = claude("SCENARIO:midsystem Run the marker command.", ["Bash"])
    assert r.result == "BASH-RESULT: dario-bash-42 [is_error=false]"
    check_common(lane)
    reqs = lane.model_requests()
    ok = [e for e in reqs if e["status"] == 200 and e["body"].get("tools")]
    assert len(ok) == 2
    for e in ok:
        roles = [m["role"] for m in e["body"]["messages"]]
        if lane.protocol == "openai":
            assert "system" not in roles[1:], roles
        else:
            assert "system" not in roles, roles
        # Nothing was lost on the way: the environment context still reaches the model.
        assert "# Environment" in all_text(e["body"]["messages"])
    rejected = [e for e in reqs if e["status"] == 400]
    assert len(rejected) <= 1, "Claude Code resends once, then keeps system messages out"


def test_dario_claude_command_runs_the_real_claude(lane_factory, netns, dario_bin, claude_bin, tmp_path):
    """`dario claude --model M -- -p …`: Claude Code configured by dario alone (no
    ANTHROPIC_BASE_URL, model or context variables of ours), against the lane's running proxy (so
    no session proxy is started). Every model request — main loop and any side request Claude Code
    sends for a small/fast model — reaches the OpenAI-protocol backend as the chosen model."""
    ln = lane_factory("openai")
    port = ln.base_url.rsplit(":", 1)[1]
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    for d in (home, cwd):
        d.mkdir()
    argv = [dario_bin, "claude", "--model", "llama-3.3-70b", "--port", port, "--claude-bin", claude_bin, "--",
            "-p", "SCENARIO:bash Run the marker command.", "--output-format", "json", "--allowedTools", "Bash"]
    # The harness's quiet Claude Code environment, minus what `dario claude` must set itself.
    env = claude_env("", home, {"DARIO_HOME": str(ln.dir / "dario-home")})
    for k in ("ANTHROPIC_BASE_URL", "CLAUDE_CODE_MAX_CONTEXT_TOKENS"):
        del env[k]
    proc = subprocess.run(netns.cmd(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    r = ClaudeRun(argv, proc)
    assert proc.returncode == 0 and r.json is not None, r.explain()
    assert r.result == "BASH-RESULT: dario-bash-42 [is_error=false]", r.explain()
    reqs = ln.model_requests()
    assert reqs and all(e["path"] == "/v1/chat/completions" for e in reqs), [e["path"] for e in reqs]
    assert {e["body"]["model"] for e in reqs} == {"llama-3.3-70b"}
