"""Fixtures for the real-client tests: the stand-in upstream and the real `dario` binary.

DARIO_BIN and STANDIN_BIN point at the built binaries (scripts/test sets them).
"""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def standin():
    proc = subprocess.Popen(
        [os.environ["STANDIN_BIN"], "0"], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().strip()
    assert line.startswith("listening "), line
    addr = line.split(" ", 1)[1]
    yield f"http://{addr}"
    proc.terminate()
    proc.wait(timeout=5)


def standin_requests(standin_url: str):
    with urllib.request.urlopen(f"{standin_url}/__standin/requests") as r:
        return json.load(r)


def _write_backend(home: str, name: str, spec: dict):
    os.makedirs(os.path.join(home, "backends"), mode=0o700, exist_ok=True)
    path = os.path.join(home, "backends", f"{name}.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"name": name, **spec}, f)


@pytest.fixture(scope="session")
def dario(standin):
    """A running `dario proxy` whose backends all point at the stand-in."""
    home = tempfile.mkdtemp(prefix="dario-home-")
    os.chmod(home, 0o700)
    _write_backend(home, "anthropic", {"protocol": "anthropic", "base_url": standin, "passthrough": True})
    _write_backend(home, "openai", {"protocol": "openai", "base_url": f"{standin}/v1", "passthrough": True})
    _write_backend(
        home,
        "compat",
        {"protocol": "openai", "base_url": f"{standin}/v1", "key": "sk-compat-test-key-0001",
         "models": ["llama-*", "qwen-*"]},
    )
    # An OpenAI-protocol backend that serves the Responses API too: /v1/responses passes through.
    _write_backend(
        home,
        "native",
        {"protocol": "openai", "base_url": f"{standin}/v1", "key": "sk-native-test-key-0001",
         "models": ["gpt-r-*"], "responses": True},
    )
    port = _free_port()
    env = dict(os.environ, DARIO_HOME=home, HOME=home)
    env.pop("ANTHROPIC_API_KEY", None)
    env.pop("OPENAI_API_KEY", None)
    env.pop("DARIO_API_KEY", None)
    # stderr goes to a file: the proxy logs every failed request, and a pipe nobody reads
    # would fill up and stall it.
    log = open(os.path.join(home, "proxy.log"), "w+")
    proc = subprocess.Popen(
        [os.environ["DARIO_BIN"], "proxy", "--port", str(port)],
        env=env,
        stderr=log,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 15
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"dario exited: {log.read()}")
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    log.close()
