"""Official SDKs through dario to a same-protocol backend: bodies and streams pass through."""
import json

import anthropic
import openai

from conftest import standin_requests

TEXT = "Hello from the stand-in — ünïcödé ✓."


def test_anthropic_sdk_passthrough(dario, standin):
    client = anthropic.Anthropic(base_url=dario, api_key="client-own-key", max_retries=0)
    msg = client.messages.create(
        model="claude-sonnet-5-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == TEXT
    assert msg.usage.input_tokens == 12 and msg.usage.output_tokens == 9
    last = standin_requests(standin)[-1]
    assert last["uri"] == "/v1/messages"
    # The SDK's own credential header (x-api-key or, in newer SDKs, Authorization) unchanged.
    h = last["headers"]
    assert h.get("x-api-key") == "client-own-key" or h.get("authorization") == "Bearer client-own-key", h
    assert last["headers"]["user-agent"].endswith(" dario/0.1.0")

    with client.messages.stream(
        model="sonnet", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == TEXT
    # The alias was expanded in the body that went upstream.
    assert json.loads(standin_requests(standin)[-1]["body"])["model"].startswith("claude-sonnet-")


def test_openai_sdk_passthrough(dario, standin):
    client = openai.OpenAI(base_url=f"{dario}/v1", api_key="client-openai-key", max_retries=0)
    r = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert r.choices[0].message.content == TEXT
    assert r.usage.completion_tokens == 9
    last = standin_requests(standin)[-1]
    assert last["uri"] == "/v1/chat/completions"
    assert last["headers"]["authorization"] == "Bearer client-openai-key"

    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == TEXT
    assert chunks[-1].usage.completion_tokens == 9


def test_sdk_model_lists_and_token_counts(dario):
    a = anthropic.Anthropic(base_url=dario, api_key="k", max_retries=0)
    ids = [m.id for m in a.models.list()]
    assert "sonnet" in ids and any(i.startswith("claude-") for i in ids)
    # Anthropic-protocol backend: forwarded; OpenAI-protocol backend: a local estimate.
    assert a.messages.count_tokens(
        model="claude-sonnet-5-5", messages=[{"role": "user", "content": "hi"}]
    ).input_tokens == 42
    est = a.messages.with_raw_response.count_tokens(
        model="llama-3-test", messages=[{"role": "user", "content": "The quick brown fox jumps."}]
    )
    assert est.headers["x-dario-token-count"].startswith("estimate")
    assert 3 <= est.parse().input_tokens <= 30

    o = openai.OpenAI(base_url=f"{dario}/v1", api_key="k", max_retries=0)
    oids = [m.id for m in o.models.list()]
    assert "gpt-4o-mini" in oids
    # The keyed `compat` backend's own list is included, with its prefix.
    assert "compat:standin-model" in oids
