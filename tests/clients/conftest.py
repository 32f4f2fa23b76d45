"""Fixtures for driving real client programs (Claude Code) through `dario proxy`.

Every client, dario and the stand-in upstream run inside one network namespace that has only
loopback, made for the test session and deleted after it, so a client can never reach a real
service whatever it tries. Making the namespace needs root and `ip` (iproute2); when that fails the
tests FAIL, unless DARIO_SKIP_REAL_CLIENTS=1 says to skip them.

Environment:
- DARIO_BIN: the dario binary (default target/debug/dario);
- CLAUDE_BIN, or DARIO_CLIENTS_ENV (the env file scripts/install-clients writes; default
  ~/.cache/dario-clients/clients.env): the Claude Code executable.
"""
import os
import subprocess
from pathlib import Path

import pytest

from harness import Lane, NetNS, read_clients_env

REPO = Path(__file__).resolve().parent.parent.parent
SKIP = os.environ.get("DARIO_SKIP_REAL_CLIENTS") == "1"


def _unavailable(msg: str):
    if SKIP:
        pytest.skip(f"{msg} (DARIO_SKIP_REAL_CLIENTS=1)")
    pytest.fail(msg + " — set DARIO_SKIP_REAL_CLIENTS=1 to skip the real-client tests", pytrace=False)


@pytest.fixture(scope="session")
def claude_bin() -> str:
    env = read_clients_env()
    path = env.get("CLAUDE_BIN")
    if not path or not os.access(path, os.X_OK):
        _unavailable(f"Claude Code is not installed (CLAUDE_BIN={path!r}); run scripts/install-clients")
    return path


@pytest.fixture(scope="session")
def dario_bin() -> str:
    path = os.environ.get("DARIO_BIN") or str(REPO / "target" / "debug" / "dario")
    if not os.access(path, os.X_OK):
        pytest.fail(f"dario binary missing at {path}; build with cargo build --bins", pytrace=False)
    return path


@pytest.fixture(scope="session")
def netns():
    name = f"dario-cc-{os.getpid()}"
    try:
        ns = NetNS.create(name)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        _unavailable(f"can not make the loopback-only network namespace the real-client tests need: {e}")
    yield ns
    ns.delete()


@pytest.fixture
def lane_factory(netns, dario_bin, tmp_path):
    lanes = []

    def make(protocol, **kw):
        d = tmp_path / f"lane{len(lanes)}"
        d.mkdir()
        lane = Lane(netns, dario_bin, protocol, d, **kw)
        lanes.append(lane)
        return lane

    yield make
    for lane in lanes:
        lane.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "reject_mid_system: the stand-in refuses system messages where servers do")
