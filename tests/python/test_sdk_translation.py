"""Official SDKs through dario to a backend of the *other* protocol: dario translates both ways.

The stand-in answers every request with canned content (tests/it/support/standin.rs); the SDK's
assembled result must equal it exactly, streamed or not.
"""
import json

import anthropic
import openai

from conftest import standin_requests

TEXT = "Hello from the stand-in — ünïcödé ✓."
TOOLS_TEXT = "Let me check both cities."
TOOL_CALLS = [
    ("call_weather_1", "get_weather", {"city": "Paris", "unit": "celsius"}),
    ("call_weather_2", "get_weather", {"city": "Tōkyō", "unit": "celsius", "days": [1, 2, 3]}),
]
THINKING = "First, consider the question carefully. Then answer."

WEATHER_TOOL_ANTHROPIC = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
        "required": ["city"],
    },
}
WEATHER_TOOL_OPENAI = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": WEATHER_TOOL_ANTHROPIC["input_schema"],
    },
}


def last_upstream(standin):
    return standin_requests(standin)[-1]


# ---------------------------------------------------------------- Anthropic SDK → OpenAI backend

def anthropic_client(dario):
    return anthropic.Anthropic(base_url=dario, api_key="client-key", max_retries=0)


def test_anthropic_sdk_create_against_openai_backend(dario, standin):
    msg = anthropic_client(dario).messages.create(
        model="llama-3-test",
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == TEXT
    assert msg.stop_reason == "end_turn"
    assert msg.model == "llama-3-test"
    # OpenAI: prompt 16 incl. 4 cached → input 12, cache read 4.
    assert msg.usage.input_tokens == 12
    assert msg.usage.cache_read_input_tokens == 4
    assert msg.usage.output_tokens == 9
    up = last_upstream(standin)
    assert up["uri"] == "/v1/chat/completions"
    body = json.loads(up["body"])
    assert body["model"] == "llama-3-test"
    assert body["messages"][0] == {"role": "system", "content": "You are terse."}
    assert body["max_tokens"] == 100
    assert up["headers"]["authorization"] == "Bearer sk-compat-test-key-0001"


def test_anthropic_sdk_stream_equals_create(dario, standin):
    client = anthropic_client(dario)
    kwargs = dict(model="llama-3-test", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
    plain = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == plain.content[0].text == TEXT
    assert final.stop_reason == plain.stop_reason == "end_turn"
    assert final.usage.output_tokens == plain.usage.output_tokens
    body = json.loads(last_upstream(standin)["body"])
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_anthropic_sdk_streamed_tool_calls(dario, standin):
    client = anthropic_client(dario)
    kwargs = dict(
        model="llama-3-test",
        max_tokens=200,
        tools=[WEATHER_TOOL_ANTHROPIC],
        tool_choice={"type": "auto"},
        messages=[{"role": "user", "content": "weather in Paris and Tokyo? [scenario:tools]"}],
    )
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    plain = client.messages.create(**kwargs)
    for msg in (final, plain):
        assert msg.stop_reason == "tool_use"
        assert msg.content[0].type == "text" and msg.content[0].text == TOOLS_TEXT
        uses = [(b.id, b.name, b.input) for b in msg.content if b.type == "tool_use"]
        assert uses == TOOL_CALLS
    body = json.loads(last_upstream(standin)["body"])
    assert body["tools"][0]["type"] == "function"
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tools"][0]["function"]["parameters"] == WEATHER_TOOL_ANTHROPIC["input_schema"]
    assert body["tool_choice"] == "auto"

    # The tool results go back as `tool` messages.
    follow = client.messages.create(
        model="llama-3-test",
        max_tokens=100,
        tools=[WEATHER_TOOL_ANTHROPIC],
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in plain.content]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_weather_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_weather_2", "content": "boom", "is_error": True},
                ],
            },
        ],
    )
    assert follow.content[0].text == TEXT
    msgs = json.loads(last_upstream(standin)["body"])["messages"]
    assistant = [m for m in msgs if m["role"] == "assistant"][0]
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_weather_1", "call_weather_2"]
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == TOOL_CALLS[1][2]
    tool_msgs = [m for m in msgs if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_weather_1", "call_weather_2"]
    assert "18C" in json.dumps(tool_msgs[0]["content"])
    assert "Error" in json.dumps(tool_msgs[1]["content"]) and "boom" in json.dumps(tool_msgs[1]["content"])


def test_anthropic_sdk_thinking(dario, standin):
    client = anthropic_client(dario)
    kwargs = dict(
        model="qwen-reasoner",
        max_tokens=20000,
        thinking={"type": "enabled", "budget_tokens": 10000},
        messages=[{"role": "user", "content": "meaning of life? [scenario:thinking]"}],
    )
    plain = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    for msg in (plain, final):
        assert [b.type for b in msg.content] == ["thinking", "text"]
        assert msg.content[0].thinking == THINKING
        assert msg.content[1].text == "The answer is 42."
    body = json.loads(last_upstream(standin)["body"])
    assert body.get("reasoning_effort") == "medium"


# ---------------------------------------------------------------- OpenAI SDK → Anthropic backend

def openai_client(dario):
    return openai.OpenAI(base_url=f"{dario}/v1", api_key="client-key", max_retries=0)


def test_openai_sdk_create_against_anthropic_backend(dario, standin):
    r = openai_client(dario).chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hi"},
        ],
        max_tokens=50,
    )
    assert r.choices[0].message.content == TEXT
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "claude-sonnet-4-5"
    # Anthropic: input 12 + cache read 4 → prompt 16, cached 4.
    assert r.usage.prompt_tokens == 16
    assert r.usage.prompt_tokens_details.cached_tokens == 4
    assert r.usage.completion_tokens == 9
    up = last_upstream(standin)
    assert up["uri"] == "/v1/messages"
    body = json.loads(up["body"])
    assert body["system"] in ("You are terse.", [{"type": "text", "text": "You are terse."}])
    assert body["max_tokens"] == 50
    assert body["messages"] == [{"role": "user", "content": "hi"}] or body["messages"][0]["role"] == "user"


def test_openai_sdk_streaming_tool_calls_with_usage(dario, standin):
    client = openai_client(dario)
    stream = client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "weather? [scenario:tools]"}],
        tools=[WEATHER_TOOL_OPENAI],
        tool_choice="auto",
        stream=True,
        stream_options={"include_usage": True},
    )
    text, calls, finish, usage, roles = "", {}, None, None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            d = choice.delta
            if d.role:
                roles.append(d.role)
            text += d.content or ""
            for tc in d.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": None, "name": "", "arguments": ""})
                if tc.id:
                    slot["id"] = tc.id
                if tc.function and tc.function.name:
                    slot["name"] += tc.function.name
                if tc.function and tc.function.arguments:
                    slot["arguments"] += tc.function.arguments
            if choice.finish_reason:
                finish = choice.finish_reason
    assert roles[:1] == ["assistant"]
    assert text == TOOLS_TEXT
    assert finish == "tool_calls"
    got = [(calls[k]["id"], calls[k]["name"], json.loads(calls[k]["arguments"])) for k in sorted(calls)]
    assert got == TOOL_CALLS
    assert usage is not None and usage.completion_tokens == 45 and usage.prompt_tokens == 120
    body = json.loads(last_upstream(standin)["body"])
    assert body["tools"][0]["name"] == "get_weather"
    assert body["tools"][0]["input_schema"] == WEATHER_TOOL_OPENAI["function"]["parameters"]
    assert body["tool_choice"] == {"type": "auto"}

    plain = client.chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "weather? [scenario:tools]"}],
        tools=[WEATHER_TOOL_OPENAI],
    )
    m = plain.choices[0].message
    assert m.content == TOOLS_TEXT
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in m.tool_calls] == TOOL_CALLS
    assert plain.choices[0].finish_reason == "tool_calls"


def test_openai_sdk_tool_results_round_trip(dario, standin):
    r = openai_client(dario).chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_b", "content": "21C"},
            {"role": "user", "content": "thanks"},
        ],
        tools=[WEATHER_TOOL_OPENAI],
    )
    assert r.choices[0].message.content == TEXT
    msgs = json.loads(last_upstream(standin)["body"])["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    uses = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert [(u["id"], u["input"]) for u in uses] == [("call_a", {"city": "Paris"}), ("call_b", {"city": "Rome"})]
    results = [b for b in msgs[2]["content"] if b["type"] == "tool_result"]
    assert [b["tool_use_id"] for b in results] == ["call_a", "call_b"]
    assert any(b.get("type") == "text" and b.get("text") == "thanks" for b in msgs[2]["content"])


def test_openai_sdk_streaming_thinking(dario, standin):
    stream = openai_client(dario).chat.completions.create(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "life? [scenario:thinking]"}],
        reasoning_effort="low",
        stream=True,
    )
    reasoning, text = "", ""
    for chunk in stream:
        for c in chunk.choices:
            extra = c.delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            text += c.delta.content or ""
    assert reasoning == THINKING
    assert text == "The answer is 42."
    body = json.loads(last_upstream(standin)["body"])
    assert body["thinking"]["type"] == "enabled"
    assert body["max_tokens"] > body["thinking"]["budget_tokens"]
