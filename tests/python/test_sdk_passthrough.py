"""Official SDKs through dario to a same-protocol backend: bodies and streams pass through."""
import json

import anthropic
import openai

from conftest import standin_requests

TEXT = "Hello from the stand-in — ünïcödé ✓."


def test_anthropic_sdk_passthrough(dario, standin):
    client = anthropic.Anthropic(base_url=dario, api_key="client-own-key", max_retries=0)
    msg = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert msg.content[0].text == TEXT
    assert msg.usage.input_tokens == 12 and msg.usage.output_tokens == 9
    last = standin_requests(standin)[-1]
    assert last["uri"] == "/v1/messages"
    assert last["headers"]["x-api-key"] == "client-own-key"
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
