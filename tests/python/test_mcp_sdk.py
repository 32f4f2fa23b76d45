"""`dario mcp` driven by the official MCP Python SDK over stdio.

Run:  DARIO_BIN=target/debug/dario STANDIN_BIN=target/debug/examples/standin \
        pytest tests/python/test_mcp_sdk.py
(needs `pip install -r tests/python/requirements.txt`; scripts/test does all of this). Only
the live-data test uses STANDIN_BIN (through conftest's real `dario proxy` fixture).

The SDK negotiates the protocol itself, both ways: the `initialize` handshake and the
stateless `server/discover` revision. Every tool is listed and called; the SDK validates each
result's structured content against the tool's output schema, and the test checks that
structured content is present and no call reports an error.
"""

import json
import os
import socket
import tempfile
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TOOLS = {
    "analytics_summary",
    "auth_status",
    "backends_list",
    "doctor",
    "fingerprint_info",
    "pool_status",
    "route_explain",
    "subagent_status",
    "template_info",
}
ARGS = {"route_explain": {"model": "sonnet"}, "analytics_summary": {"window_minutes": 30}}
RESOURCES = {"dario://config", "dario://routes", "dario://analytics"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


def dario_bin() -> str:
    path = os.environ.get("DARIO_BIN")
    if not path:
        pytest.fail("set DARIO_BIN to the built dario binary (e.g. target/debug/dario)")
    path = str(Path(path).resolve())
    assert os.access(path, os.X_OK), f"{path} is not executable"
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server_params():
    with tempfile.TemporaryDirectory() as home:
        dario_home = Path(home) / ".dario"
        (dario_home / "backends").mkdir(parents=True, mode=0o700)
        dario_home.chmod(0o700)
        backend = dario_home / "backends" / "local.json"
        backend.write_text(
            json.dumps(
                {
                    "name": "local",
                    "protocol": "openai",
                    "base_url": "http://127.0.0.1:11434/v1",
                    "key": "sk-python-sdk-test-key-0123456789",
                }
            )
        )
        backend.chmod(0o600)
        yield StdioServerParameters(
            command=dario_bin(),
            args=["mcp"],
            env={
                "HOME": home,
                "XDG_CONFIG_HOME": str(Path(home) / ".config"),
                "DARIO_HOME": str(dario_home),
                "DARIO_HOST": "127.0.0.1",
                "DARIO_PORT": str(closed_port()),
            },
        )


async def exercise(session: ClientSession):
    listed = (await session.list_tools()).tools
    assert {t.name for t in listed} == TOOLS
    for tool in listed:
        a = tool.annotations
        assert a is not None and a.read_only_hint is True, tool.name
        assert a.destructive_hint is False and a.idempotent_hint is True, tool.name
        assert a.open_world_hint is False, tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
        assert tool.output_schema is not None, tool.name

    for tool in sorted(TOOLS):
        # call_tool validates structured content against the tool's output schema.
        result = await session.call_tool(tool, ARGS.get(tool, {}))
        text = " ".join(c.text for c in result.content if c.type == "text")
        assert not result.is_error, f"{tool}: {text}"
        assert result.structured_content is not None, tool
        assert text.strip(), tool
        assert "sk-python-sdk" not in text and "sk-python-sdk" not in json.dumps(result.structured_content)
        proxy = result.structured_content.get("proxy")
        if proxy is not None:
            assert proxy["running"] is False
            assert "proxy not running" in text

    bad = await session.call_tool("analytics_summary", {"window_minutes": 0})
    assert bad.is_error

    resources = (await session.list_resources()).resources
    assert {str(r.uri) for r in resources} == RESOURCES
    for uri in sorted(RESOURCES):
        contents = (await session.read_resource(uri)).contents
        assert json.loads(contents[0].text) is not None

    prompts = (await session.list_prompts()).prompts
    assert {p.name for p in prompts} == {"diagnose", "explain_route"}
    got = await session.get_prompt("explain_route", {"model": "opus"})
    assert "opus" in got.messages[0].content.text


@pytest.mark.anyio
async def test_initialize_handshake(server_params):
    async with stdio_client(server_params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.server_info.name == "dario"
            assert session.protocol_version == init.protocol_version
            await session.send_ping()
            await exercise(session)


@pytest.mark.anyio
async def test_stateless_discover(server_params):
    async with stdio_client(server_params) as (read, write):
        async with ClientSession(read, write) as session:
            found = await session.discover()
            assert "2026-07-28" in found.supported_versions
            assert session.protocol_version == "2026-07-28"
            await exercise(session)


@pytest.mark.anyio
async def test_live_data_from_the_real_proxy(server_params, dario):
    """With `dario proxy` running (conftest's `dario` fixture), live tools report it."""
    port = dario.rsplit(":", 1)[1]
    params = server_params.model_copy(update={"env": {**server_params.env, "DARIO_PORT": port}})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            pool = await session.call_tool("pool_status", {})
            assert not pool.is_error
            assert pool.structured_content["proxy"]["running"] is True
            assert pool.structured_content["pool"] is not None
            analytics = await session.call_tool("analytics_summary", {"window_minutes": 5})
            assert not analytics.is_error
            assert analytics.structured_content["analytics"] is not None
            text = " ".join(c.text for c in analytics.content if c.type == "text")
            assert "Window (last 5 min)" in text
            assert "proxy not running" not in text
