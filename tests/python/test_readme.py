"""Every code block of README.md, run in order as a newcomer would, against the real binary.

The blocks come from `scripts/readme-blocks` (which says how blocks are tagged). They run in one
fresh environment: an empty HOME (so `~/.dario` is new), `dario` on PATH (a link to DARIO_BIN),
placeholder provider keys, and two substitutions that keep the run on this machine:
  - every upstream is the stand-in: before the blocks run, the built-in `anthropic` and `openai`
    backends are pointed at it, and after each block every backend URL the block wrote (backend
    files, `config.toml`) is pointed at it too, keeping its protocol;
  - port 3456 becomes a free port (the README's `127.0.0.1:3456`; `DARIO_PORT` is set).
Nothing else in a block is changed.
"""
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_blocks_module():
    path = ROOT / "scripts" / "readme-blocks"
    loader = importlib.machinery.SourceFileLoader("readme_blocks", str(path))
    spec = importlib.util.spec_from_loader("readme_blocks", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_blocks"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


readme_blocks = _load_blocks_module()
BLOCKS = readme_blocks.parse(ROOT / "README.md")
PLACEHOLDER_KEYS = {
    "GROQ_API_KEY": "gsk_placeholder_groq_0001",
    "DEEPSEEK_API_KEY": "sk-placeholder-deepseek-0001",
    "OPENROUTER_API_KEY": "sk-or-placeholder-0001",
    "MISTRAL_API_KEY": "placeholder-mistral-0001",
    "TOGETHER_API_KEY": "placeholder-together-0001",
    "POOL_KEY_EAST": "placeholder-pool-east-0001",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Env:
    """The newcomer's machine: HOME, PATH, the proxy port, the stand-in."""

    def __init__(self, standin: str):
        self.standin = standin
        self.root = Path(tempfile.mkdtemp(prefix="dario-readme-"))
        self.home = self.root / "home"
        self.work = self.root / "work"
        self.bin = self.root / "bin"
        for d in (self.home, self.work, self.bin):
            d.mkdir()
        (self.bin / "dario").symlink_to(os.environ["DARIO_BIN"])
        self.port = _free_port()
        self.dario_home = self.home / ".dario"
        self.background: list[subprocess.Popen] = []
        env = {k: v for k, v in os.environ.items()
               if not (k.endswith("_API_KEY") or k.endswith("_AUTH_TOKEN") or k.startswith("DARIO_")
                       or k.startswith("ANTHROPIC_") or k.startswith("OPENAI_")
                       or k == "CLAUDE_CONFIG_DIR")}
        env.update(PLACEHOLDER_KEYS)
        env.update(
            HOME=str(self.home),
            PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            DARIO_PORT=str(self.port),
            XDG_CONFIG_HOME=str(self.home / ".config"),
        )
        self.env = env
        # The built-in backends, pointed at the stand-in.
        self._write_backend("anthropic", {"protocol": "anthropic", "base_url": standin,
                                          "passthrough": True})
        self._write_backend("openai", {"protocol": "openai", "base_url": f"{standin}/v1",
                                       "passthrough": True})

    def _write_backend(self, name: str, spec: dict):
        d = self.dario_home / "backends"
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dario_home, 0o700)
        os.chmod(d, 0o700)
        self._write_private(d / f"{name}.json", json.dumps({"name": name, **spec}))

    @staticmethod
    def _write_private(path: Path, text: str):
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def substitute(self, text: str) -> str:
        return re.sub(r"(127\.0\.0\.1|localhost):3456", rf"\g<1>:{self.port}", text)

    def standin_url(self, url: str, protocol: str) -> str:
        return f"{self.standin}/v1" if protocol == "openai" else self.standin

    def redirect_upstreams(self):
        """Points every configured backend (and deployment) at the stand-in."""
        d = self.dario_home / "backends"
        for path in sorted(d.glob("*.json")) if d.exists() else []:
            spec = json.loads(path.read_text())
            protocol = spec.get("protocol") or spec.get("provider") or "openai"
            protocol = "anthropic" if protocol == "anthropic" else "openai"
            changed = False
            for obj in [spec, *spec.get("deployments", [])]:
                for key in ("base_url", "baseUrl"):
                    if key in obj and obj[key] != self.standin_url(obj[key], protocol):
                        obj[key] = self.standin_url(obj[key], protocol)
                        changed = True
            if changed:
                self._write_private(path, json.dumps(spec, indent=2))
        toml = self.dario_home / "config.toml"
        if toml.exists():
            text = toml.read_text()
            # [backends.X] tables: their protocol decides the URL shape (openai unless said).
            out, protocol = [], "openai"
            for line in text.splitlines():
                if re.match(r"\s*\[", line):
                    protocol = "openai"
                m = re.match(r'\s*protocol\s*=\s*"(\w+)"', line)
                if m:
                    protocol = m.group(1)
                m = re.match(r'(\s*base_url\s*=\s*)"([^"]*)"(.*)', line)
                if m:
                    line = f'{m.group(1)}"{self.standin_url(m.group(2), protocol)}"{m.group(3)}'
                out.append(line)
            new = "\n".join(out) + "\n"
            if new != text:
                self._write_private(toml, new)

    def dario(self, *args, check=True) -> subprocess.CompletedProcess:
        r = subprocess.run(["dario", *args], env=self.env, cwd=self.work, capture_output=True,
                           text=True, timeout=60)
        if check:
            assert r.returncode == 0, f"dario {' '.join(args)}: {r.stdout}{r.stderr}"
        return r

    def proxy_running(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def after_change(self):
        """Upstreams to the stand-in; a running proxy must accept what is on disk."""
        self.redirect_upstreams()
        if self.proxy_running():
            self.dario("reload")

    def close(self):
        for p in self.background:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def env(standin):
    e = Env(standin)
    yield e
    e.close()


def test_every_block_is_runnable_or_says_why_not():
    assert BLOCKS, "README.md has no code blocks"
    assert readme_blocks.problems(BLOCKS) == []
    runnable = [b for b in BLOCKS if b.kind]
    illustrative = [b for b in BLOCKS if not b.kind]
    # "Keep those few": most of the README must run.
    assert len(runnable) > 2 * len(illustrative), [b.id for b in illustrative]


def _run_sh(env: Env, block, log: Path):
    text = env.substitute(block.text)
    if block.background:
        f = open(log, "w")
        p = subprocess.Popen(["bash", "-c", text], env=env.env, cwd=env.work, stdout=f,
                             stderr=subprocess.STDOUT, start_new_session=True)
        env.background.append(p)
        deadline = time.time() + 30
        while not env.proxy_running():
            assert p.poll() is None, f"{block.id} exited: {log.read_text()}"
            assert time.time() < deadline, f"{block.id}: nothing answers: {log.read_text()}"
            time.sleep(0.05)
        return
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", text], env=env.env, cwd=env.work,
                       capture_output=True, text=True, timeout=120)
    out = f"{r.stdout}{r.stderr}"
    if block.fails:
        assert r.returncode != 0, f"{block.id} was expected to fail:\n{out}"
        assert "error" in out.lower(), f"{block.id} failed without saying why:\n{out}"
    else:
        assert r.returncode == 0, f"{block.id} failed ({r.returncode}):\n{text}\n---\n{out}"


def _run_python(env: Env, block, tmp: Path):
    script = tmp / "block.py"
    script.write_text(env.substitute(block.text))
    r = subprocess.run([sys.executable, str(script)], env=env.env, cwd=env.work,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{block.id} failed:\n{block.text}\n---\n{r.stdout}{r.stderr}"


def _run_toml(env: Env, block):
    path = env.dario_home / "config.toml"
    env.dario_home.mkdir(parents=True, exist_ok=True)
    first = block.text.lstrip().splitlines()[0] if block.text.strip() else ""
    if first.startswith("# ~/.dario/config.toml") or not path.exists():
        text = block.text
    else:
        text = path.read_text() + "\n" + block.text
    Env._write_private(path, text)
    env.after_change()
    report = json.loads(env.dario("doctor", "--json", check=False).stdout)
    bad = [c for c in report["checks"]
           if c["status"] == "fail" and c["label"] in ("config", "routing")]
    assert not bad, f"{block.id}: the config it gives is refused: {bad}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind], ids=lambda b: b.id)
def test_readme_block(env, block, tmp_path):
    if block.kind == "sh":
        _run_sh(env, block, tmp_path / "background.log")
    elif block.kind == "python":
        _run_python(env, block, tmp_path)
    else:
        _run_toml(env, block)
    env.after_change()


# ---- issue 17 #6 and #1: the README is a front door, and installing is one step -------------

README = (ROOT / "README.md").read_text()


def _paragraphs(text: str) -> list[str]:
    out, in_code = [], False
    for para in re.split(r"\n\s*\n", text):
        if para.lstrip().startswith("```"):
            in_code = not in_code if para.count("```") % 2 else in_code
            continue
        if not in_code and len(para) > 120 and not para.lstrip().startswith("|"):
            out.append(" ".join(para.split()))
    return out


def test_the_first_screen_says_what_and_why_and_how_it_relates():
    first_screen = "\n".join(README.splitlines()[:45])
    assert "## Why dario" in first_screen
    for other in ["LiteLLM", "claude-code-router", "@askalf/dario"]:
        assert other in README, other
    # Files the Node dario wrote are read: said where the Node dario is introduced.
    node = README[README.index("@askalf/dario"):][:900]
    assert "~/.dario" in node and "read" in node
    # Claude Code on other providers is a recipe that runs, not a footnote.
    runnable = "\n".join(b.text for b in BLOCKS if b.kind == "sh")
    for provider in ["groq", "deepseek", "ollama"]:
        assert f"dario backend add {provider}" in runnable, provider


def test_internals_live_in_docs_and_nothing_is_said_twice():
    for link in set(re.findall(r"\]\((docs/[^)#]+)", README)):
        assert (ROOT / link).is_file(), link
    for doc in ["architecture", "routing", "pools", "mcp", "subagent"]:
        assert f"docs/{doc}.md" in README, doc
    # Each face of dario gets a recipe of a few lines and a link; internals belong in docs/.
    assert len(README.splitlines()) < 360, "internals belong in docs/"
    seen = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for p in _paragraphs(path.read_text()):
            assert p not in seen, f"said twice: {path.name} and {seen[p]}: {p[:80]}…"
            seen[p] = path.name
    assert "rename" not in README.replace("renamed", ""), "the field is `upstream_model`"
    assert "upstream_model" in README


def test_installing_is_one_step_with_the_toolchain_and_binaries_stated():
    cargo = (ROOT / "Cargo.toml").read_text()
    msrv = re.search(r'^rust-version = "([\d.]+)"', cargo, re.M).group(1)
    assert f"Rust {msrv} or newer" in README
    assert "cargo install --locked --path ." in README
    assert "cargo install --locked --git" in README
    release = cargo[cargo.index("[profile.release]"):].split("\n[", 1)[0]
    assert "strip = true" in release, release
    assert "debug" not in release, "release binaries carry no debug info (strip)"
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    for target in ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu",
                   "x86_64-apple-darwin", "aarch64-apple-darwin"]:
        assert target in workflow, target
    assert "sha256sum" in workflow and "SHA256SUMS" in workflow
    assert "--locked" in workflow
