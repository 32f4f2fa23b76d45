"""The harness that runs real clients, dario and the stand-in upstream in a loopback-only network
namespace (no pytest here: scripts/capture-claude-code uses it too)."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "standin.py"

# A placeholder: the stand-in never checks it and no real key exists on a test machine.
PLACEHOLDER_KEY = "sk-ant-placeholder-not-a-real-key"


def read_clients_env() -> dict:
    out = {}
    path = os.environ.get("DARIO_CLIENTS_ENV") or os.path.expanduser("~/.cache/dario-clients/clients.env")
    if os.path.exists(path):
        for line in Path(path).read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    for k in ("CLAUDE_BIN", "NODE_BIN", "CLAUDE_CODE_VERSION", "CODEX_BIN", "CODEX_VERSION"):
        if os.environ.get(k):
            out[k] = os.environ[k]
    return out


class NetNS:
    """A network namespace with only `lo`, up."""

    def __init__(self, name: str):
        self.name = name

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name, *argv]

    @classmethod
    def create(cls, name: str) -> "NetNS":
        if shutil.which("ip") is None:
            raise RuntimeError("`ip` (iproute2) is not installed; scripts/install-clients installs it")
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        for argv in (["ip", "netns", "add", name], ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            if r.returncode != 0:
                subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
                raise RuntimeError(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip()}")
        # Only loopback: no other interface, no route off the machine.
        r = subprocess.run(["ip", "netns", "exec", name, "ip", "-o", "link"], capture_output=True, text=True, timeout=10)
        links = [line.split(":")[1].strip() for line in r.stdout.splitlines() if ":" in line]
        if links != ["lo"]:
            raise RuntimeError(f"namespace {name} has interfaces {links}, expected only lo")
        return cls(name)

    def delete(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)


def _read_line(proc, stream, pattern, timeout, what):
    """Reads `stream` until a line matches `pattern`; the rest is drained in the background."""
    found, lines = [], []

    def reader():
        for line in stream:
            lines.append(line)
            if not found:
                m = re.search(pattern, line)
                if m:
                    found.append(m)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.time() + timeout
    while not found:
        if proc.poll() is not None or time.time() > deadline:
            time.sleep(0.1)
            if found:
                break
            proc.kill()
            raise RuntimeError(f"{what} did not start: {''.join(lines)[-2000:]}")
        time.sleep(0.02)
    return found[0], lines


class Lane:
    """One stand-in upstream and one `dario proxy` in front of it, in the namespace.

    protocol "openai": the stand-in is an OpenAI-protocol backend serving `llama-*` (requests from
    Claude Code are translated); "anthropic": an Anthropic-protocol backend serving `claude-*`
    (passthrough); "responses": an OpenAI-protocol backend that also serves the Responses API
    (`responses: true`), serving `gpt-*`. `dario=False` points the client at the stand-in directly (the capture script).
    """

    def __init__(self, ns: NetNS, dario_bin: str, protocol: str, workdir: Path, reject_mid_system=False,
                 dario=True, models=None):
        self.models = models
        self.ns, self.protocol, self.dir = ns, protocol, workdir
        self.log = workdir / "upstream.jsonl"
        self.log.touch()
        self.procs = []
        argv = [sys.executable, str(STANDIN), "--port", "0", "--log", str(self.log)]
        if reject_mid_system:
            argv.append("--reject-mid-system")
        p = subprocess.Popen(ns.cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        m, _ = _read_line(p, p.stdout, r"listening (\S+)", 15, "the stand-in")
        self.upstream = f"http://{m.group(1)}"
        self.base_url = self.upstream
        self.dario_log = None
        if dario:
            self._start_dario(dario_bin)

    def _start_dario(self, dario_bin):
        home = self.dir / "dario-home"
        (home / "backends").mkdir(parents=True)
        os.chmod(home, 0o700)
        os.chmod(home / "backends", 0o700)
        if self.protocol == "openai":
            spec = {"name": "standin-openai", "protocol": "openai", "base_url": f"{self.upstream}/v1",
                    "key": "sk-placeholder-openai-0001", "models": ["llama-*"]}
        elif self.protocol == "responses":
            spec = {"name": "standin-responses", "protocol": "openai", "base_url": f"{self.upstream}/v1",
                    "key": "sk-placeholder-openai-0002", "models": ["gpt-*"], "responses": True}
        else:
            spec = {"name": "standin-anthropic", "protocol": "anthropic", "base_url": self.upstream,
                    "passthrough": True, "models": ["claude-*"]}
        if self.models:
            spec["models"] = self.models
        path = home / "backends" / f"{spec['name']}.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(spec, f)
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(DARIO_HOME=str(home), HOME=str(home))
        p = subprocess.Popen(self.ns.cmd([dario_bin, "proxy", "--port", "0", "-v"]), env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.procs.append(p)
        m, self.dario_log = _read_line(p, p.stdout, r"listening on (http://\S+)", 20, "dario")
        self.base_url = m.group(1)

    def requests(self, path_part="/"):
        out = []
        for line in self.log.read_text().splitlines():
            if line.strip():
                e = json.loads(line)
                if path_part in e["path"]:
                    out.append(e)
        return out

    def model_requests(self):
        """The POSTs that asked for a completion (either protocol), in order."""
        return [e for e in self.requests() if e["method"] == "POST" and
                (e["path"].split("?")[0].endswith(("/messages", "/responses"))
                 or "/chat/completions" in e["path"])]

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)


def claude_env(base_url: str, home: Path, extra=None) -> dict:
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": PLACEHOLDER_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
        "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        "CLAUDE_CODE_IDE_SKIP_AUTO_INSTALL": "1",
        "CLAUDE_CODE_DISABLE_AUTO_MEMORY": "1",
        "CLAUDE_CODE_MAX_CONTEXT_TOKENS": "131072",
    }
    env.update(extra or {})
    return env


class ClaudeRun:
    def __init__(self, argv, proc: subprocess.CompletedProcess):
        self.argv = argv
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            self.json = json.loads(proc.stdout)
        except ValueError:
            self.json = None

    @property
    def result(self):
        return (self.json or {}).get("result")

    def explain(self):
        return f"claude exited {self.rc}\nstdout: {self.stdout[-3000:]}\nstderr: {self.stderr[-3000:]}"


def run_claude(ns: NetNS, claude_bin: str, base_url: str, workdir: Path, prompt: str, model: str,
               allowed_tools=(), extra_env=None, timeout=120, args=(), unset_env=()) -> ClaudeRun:
    home = workdir / "home"
    cwd = workdir / "cwd"
    home.mkdir(exist_ok=True)
    cwd.mkdir(exist_ok=True)
    argv = [claude_bin, "-p", prompt, "--output-format", "json", "--model", model, *args]
    if allowed_tools:
        argv += ["--allowedTools", ",".join(allowed_tools)]
    env = claude_env(base_url, home, extra_env)
    for k in unset_env:
        env.pop(k, None)
    try:
        proc = subprocess.run(ns.cmd(argv), cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"claude did not finish in {timeout}s: {e.stdout!r} {e.stderr!r}")
    return ClaudeRun(argv, proc)


