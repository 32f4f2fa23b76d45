"""The real Codex CLI (pinned by scripts/install-clients) driven through `dario proxy`.

Codex speaks only the OpenAI Responses API (`wire_api = "responses"`). Each test writes a
CODEX_HOME/config.toml whose model provider points at dario, runs `codex exec` non-interactively
against dario in front of the scripted stand-in upstream (standin.py), once per lane:
- "chat": an OpenAI Chat backend serving `llama-*` — dario translates Responses <-> Chat;
- "anthropic": an Anthropic backend serving `claude-*` — Responses <-> Messages;
- "passthrough": an OpenAI-protocol backend marked `responses: true`, serving `gpt-*` — the
  Responses requests and event streams go through untouched.
The stand-in's script makes Codex run a shell command (its `exec_command` tool) that prints a
marker and leaves a file; the final answer, streamed in many deltas, quotes what the command
printed. Everything runs in a loopback-only network namespace (conftest.py): Codex can reach
nothing but dario.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from harness import read_clients_env

# A placeholder: the stand-in never checks it and no real key exists on a test machine.
PLACEHOLDER_KEY = "sk-placeholder-codex-not-a-real-key"

LANES = {
    "chat": ("openai", "llama-3.3-70b"),
    "anthropic": ("anthropic", "claude-sonnet-5-5"),
    "passthrough": ("responses", "gpt-5.5"),
}


@pytest.fixture(scope="session")
def codex_bin() -> str:
    path = os.environ.get("CODEX_BIN") or read_clients_env().get("CODEX_BIN")
    if not path or not os.access(path, os.X_OK):
        msg = f"Codex CLI is not installed (CODEX_BIN={path!r}); run scripts/install-clients"
        if os.environ.get("DARIO_SKIP_REAL_CLIENTS") == "1":
            pytest.skip(msg + " (DARIO_SKIP_REAL_CLIENTS=1)")
        pytest.fail(msg + " — set DARIO_SKIP_REAL_CLIENTS=1 to skip the real-client tests", pytrace=False)
    return path


@pytest.fixture(params=list(LANES))
def lane(request, lane_factory):
    protocol, model = LANES[request.param]
    ln = lane_factory(protocol)
    ln.name, ln.model = request.param, model
    return ln


class CodexRun:
    def __init__(self, argv, proc, last_message: Path, cwd: Path):
        self.argv, self.rc = argv, proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        self.last = last_message.read_text() if last_message.exists() else None
        self.cwd = cwd
        self.events = []
        for line in proc.stdout.splitlines():
            try:
                self.events.append(json.loads(line))
            except ValueError:
                pass

    def explain(self):
        return f"codex exited {self.rc}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"


def run_codex(ns, codex_bin, base_url, workdir: Path, prompt: str, model: str, timeout=180) -> CodexRun:
    home, codex_home, cwd = workdir / "home", workdir / "codex-home", workdir / "cwd"
    for d in (home, codex_home, cwd):
        d.mkdir(exist_ok=True)
    (codex_home / "config.toml").write_text(
        f'''model = "{model}"
model_provider = "dario"
approval_policy = "never"
sandbox_mode = "danger-full-access"
check_for_update_on_startup = false

[analytics]
enabled = false

[model_providers.dario]
name = "dario"
base_url = "{base_url}/v1"
wire_api = "responses"
env_key = "DARIO_CODEX_KEY"
'''
    )
    last = workdir / "last-message.txt"
    argv = [codex_bin, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
            "--ephemeral", "--json", "-o", str(last), "-C", str(cwd), prompt]
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "CODEX_HOME": str(codex_home),
        "DARIO_CODEX_KEY": PLACEHOLDER_KEY,
        "LANG": "C.UTF-8",
        "TERM": "dumb",
    }
    try:
        proc = subprocess.run(ns.cmd(argv), cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"codex did not finish in {timeout}s: {e.stdout!r} {e.stderr!r}")
    return CodexRun(argv, proc, last, cwd)


def tool_outputs(lane, e):
    """The texts of the tool results in a request the stand-in received, in its wire format."""
    b = e["body"]
    if e["path"].endswith("/responses"):
        return [i["output"] if isinstance(i["output"], str) else json.dumps(i["output"])
                for i in b["input"] if i.get("type") == "function_call_output"]
    if e["path"].endswith("/chat/completions"):
        return [m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
                for m in b["messages"] if m["role"] == "tool"]
    out = []
    for m in b["messages"]:
        if m["role"] == "user" and isinstance(m["content"], list):
            out += [json.dumps(c.get("content")) for c in m["content"] if c.get("type") == "tool_result"]
    return out


@pytest.mark.parametrize("scenario", ["codexshell", "codexthink"])
def test_codex_runs_a_shell_command_through_dario(scenario, lane, netns, codex_bin, tmp_path):
    r = run_codex(netns, codex_bin, lane.base_url, tmp_path,
                  f"SCENARIO:{scenario} Run the command the scenario asks for, then report.", lane.model)
    dario_log = "".join(lane.dario_log or [])[-3000:]
    assert r.rc == 0, r.explain() + "\ndario: " + dario_log
    # The command really ran, in Codex's working directory.
    marker = r.cwd / "codex-marker.txt"
    assert marker.exists(), r.explain()
    assert marker.read_text().strip() == "dario-codex-42"
    # The final answer, assembled from the streamed deltas, quotes the command's output.
    assert r.last is not None, r.explain()
    assert "CODEX-RESULT: the shell printed dario-codex-42." in r.last, r.last
    assert r.last.strip().endswith("CODEX-END"), r.last

    reqs = lane.model_requests()
    assert len(reqs) == 2, [e["path"] for e in reqs]
    expected_path = {"chat": "/v1/chat/completions", "anthropic": "/v1/messages",
                     "passthrough": "/v1/responses"}[lane.name]
    for e in reqs:
        assert e["path"] == expected_path, e["path"]
        assert e["status"] == 200
        assert e["body"]["stream"] is True
        assert re.search(r"(^| )dario/\d", e["headers"]["user-agent"]), e["headers"]["user-agent"]
    # The second turn carried the shell's output back to the model.
    outputs = tool_outputs(lane, reqs[1])
    assert any("dario-codex-42" in o for o in outputs), outputs
    if scenario == "codexthink" and lane.name == "anthropic":
        # Codex kept the reasoning item (its encrypted_content) and sent it back: Anthropic gets the
        # signed thinking block again before the tool call it belongs to.
        assistant = [m for m in reqs[1]["body"]["messages"] if m["role"] == "assistant"][0]
        first = assistant["content"][0]
        assert first["type"] == "thinking", assistant
        assert first["signature"].startswith("sig-standin-"), first
    if lane.name == "passthrough":
        # Untranslated: Codex's own request fields reach the backend.
        assert reqs[0]["body"]["store"] is False
        assert "reasoning.encrypted_content" in reqs[0]["body"].get("include", [])
    else:
        assert "x-codex-turn-metadata" not in json.dumps(reqs[0]["body"])
    # Codex saw the command as executed (its JSONL event stream).
    kinds = {json.dumps(ev) for ev in r.events}
    assert any("dario-codex-42" in k for k in kinds), r.stdout[-3000:]
    # dario accounted both requests as inbound `responses`.
    assert sum(" responses " in line and " 200 " in line for line in lane.dario_log) >= 2, dario_log


def test_dario_codex_command_runs_the_real_codex(lane_factory, netns, dario_bin, codex_bin, tmp_path):
    """`dario codex --model M -- exec …`: Codex configured by dario's `-c` overrides alone (no
    config.toml), against the lane's running proxy (so no session proxy is started)."""
    ln = lane_factory("openai")
    port = ln.base_url.rsplit(":", 1)[1]
    home, codex_home, cwd = tmp_path / "home", tmp_path / "codex-home", tmp_path / "cwd"
    for d in (home, codex_home, cwd):
        d.mkdir()
    argv = [dario_bin, "codex", "--model", "llama-3.3-70b", "--port", port, "--codex-bin", codex_bin, "--",
            "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "--ephemeral",
            "-o", str(tmp_path / "last.txt"), "SCENARIO:codexshell Run the command, then report."]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "CODEX_HOME": str(codex_home),
           "DARIO_HOME": str(ln.dir / "dario-home"), "LANG": "C.UTF-8", "TERM": "dumb"}
    proc = subprocess.run(netns.cmd(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (cwd / "codex-marker.txt").read_text().strip() == "dario-codex-42"
    assert "CODEX-RESULT: the shell printed dario-codex-42." in (tmp_path / "last.txt").read_text()
    reqs = ln.model_requests()
    assert [e["path"] for e in reqs] == ["/v1/chat/completions"] * 2
    assert reqs[0]["body"]["model"] == "llama-3.3-70b"


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_codex_apply_patch_through_translation(protocol, lane_factory, netns, codex_bin, tmp_path):
    """A GPT model name routed to a Chat or an Anthropic backend: Codex offers its freeform
    `apply_patch` tool, which reaches the backend as a function with one `input` string and comes
    back to Codex as a custom tool call that it applies."""
    ln = lane_factory(protocol, models=["gpt-*"])
    r = run_codex(netns, codex_bin, ln.base_url, tmp_path, "SCENARIO:codexpatch Add the file.", "gpt-5.5")
    dario_log = "".join(ln.dario_log or [])[-3000:]
    assert r.rc == 0, r.explain() + "\ndario: " + dario_log
    assert (r.cwd / "patched.txt").read_text() == "patched-by-codex-42\n", r.explain()
    assert r.last is not None and "CODEX-PATCHED:" in r.last and "CODEX-END" in r.last, r.last
    reqs = ln.model_requests()
    assert len(reqs) == 2, [e["path"] for e in reqs]
    first = reqs[0]["body"]
    if protocol == "openai":
        tool = next(t["function"] for t in first["tools"] if t["function"]["name"] == "apply_patch")
        assert tool["parameters"]["required"] == ["input"]
    else:
        tool = next(t for t in first["tools"] if t["name"] == "apply_patch")
        assert tool["input_schema"]["required"] == ["input"]
    assert "grammar" in tool["description"]
    assert tool_outputs(ln, reqs[1]), "the patch result went back to the model"
