"""The official `openai` SDK's Responses API (`client.responses.create`, `client.responses.stream`)
and the OpenAI Agents SDK through dario's `/v1/responses`, to each backend kind: an OpenAI Chat
backend (translated), an Anthropic backend (translated) and a Responses-capable backend
(passthrough). The SDK's stream parser is strict about event types and fields; its assembled
result must equal the stand-in's canned content (tests/it/support/standin.rs).
"""
import json

import openai
import pytest

from conftest import standin_requests
# The stand-in's canned content, as the Chat and Messages SDK tests know it.
from test_sdk_translation import TEXT, THINKING, TOOL_CALLS, TOOLS_TEXT, WEATHER_TOOL_ANTHROPIC

# The Responses API spells a function tool flat: {type, name, description, parameters}.
WEATHER_TOOL = {
    "type": "function",
    "name": WEATHER_TOOL_ANTHROPIC["name"],
    "description": WEATHER_TOOL_ANTHROPIC["description"],
    "parameters": WEATHER_TOOL_ANTHROPIC["input_schema"],
}

# model → (backend, the upstream path it reaches)
BACKENDS = {
    "llama-3-test": ("compat", "/v1/chat/completions"),
    "claude-sonnet-test": ("anthropic", "/v1/messages"),
    "gpt-r-test": ("native", "/v1/responses"),
}


def client(dario):
    return openai.OpenAI(base_url=f"{dario}/v1", api_key="client-key", max_retries=0)


def calls_of(resp):
    return [(i.call_id, i.name, json.loads(i.arguments)) for i in resp.output if i.type == "function_call"]


@pytest.mark.parametrize("model", list(BACKENDS))
def test_create_with_function_tools(dario, standin, model):
    resp = client(dario).responses.create(
        model=model,
        instructions="Use the tools.",
        input="[scenario:tools] weather in Paris and Tokyo?",
        tools=[WEATHER_TOOL],
        store=False,
    )
    assert resp.object == "response"
    assert resp.status == "completed"
    assert resp.output_text == TOOLS_TEXT
    assert calls_of(resp) == TOOL_CALLS
    assert resp.usage.output_tokens == 45
    up = standin_requests(standin)[-1]
    assert up["uri"] == BACKENDS[model][1]


@pytest.mark.parametrize("model", list(BACKENDS))
def test_stream_equals_create(dario, standin, model):
    c = client(dario)
    kwargs = dict(model=model, input="[scenario:tools] weather?", tools=[WEATHER_TOOL], store=False)
    plain = c.responses.create(**kwargs)
    types = []
    with c.responses.stream(**kwargs) as stream:
        for event in stream:
            types.append(event.type)
        final = stream.get_final_response()
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert "response.output_text.delta" in types
    assert "response.function_call_arguments.delta" in types
    assert final.output_text == plain.output_text == TOOLS_TEXT
    assert calls_of(final) == calls_of(plain) == TOOL_CALLS
    assert final.usage.input_tokens == plain.usage.input_tokens == 120


@pytest.mark.parametrize("model", ["llama-3-test", "claude-sonnet-test"])
def test_reasoning_summary_streams(dario, model):
    deltas = []
    with client(dario).responses.stream(
        model=model, input="[scenario:thinking] think", reasoning={"effort": "low", "summary": "auto"}, store=False
    ) as stream:
        for event in stream:
            if event.type == "response.reasoning_summary_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert "".join(deltas) == THINKING
    assert final.output[0].type == "reasoning"
    assert final.output[0].summary[0].text == THINKING
    assert final.output_text == "The answer is 42."


@pytest.mark.parametrize("model", ["llama-3-test", "claude-sonnet-test"])
def test_function_call_output_round_trip_and_previous_response_id(dario, standin, model):
    c = client(dario)
    first = c.responses.create(model=model, input="[scenario:tools] weather?", tools=[WEATHER_TOOL])
    outputs = [{"type": "function_call_output", "call_id": cid, "output": f"sunny in {args['city']}"}
               for cid, _, args in calls_of(first)]
    second = c.responses.create(model=model, previous_response_id=first.id, input=outputs, tools=[WEATHER_TOOL])
    assert second.output_text == TEXT
    assert second.previous_response_id == first.id
    body = json.loads(standin_requests(standin)[-1]["body"])
    sent = json.dumps(body, ensure_ascii=False)
    assert "sunny in Paris" in sent and "sunny in Tōkyō" in sent
    assert "[scenario:tools] weather?" in sent  # the stored first turn was prepended

    with pytest.raises(openai.BadRequestError) as e:
        c.responses.create(model=model, previous_response_id="resp_unknown", input="x")
    assert e.value.code == "previous_response_not_found"
    assert e.value.param == "previous_response_id"


def test_errors_are_openai_errors(dario):
    with pytest.raises(openai.NotFoundError):
        client(dario).responses.create(model="nobody-serves-this", input="hi")


@pytest.mark.parametrize("model", ["llama-3-test", "claude-sonnet-test"])
@pytest.mark.parametrize("streamed", [False, True])
def test_agents_sdk_runs_a_function_tool(dario, standin, model, streamed):
    import asyncio

    import agents  # openai-agents (requirements.txt): a missing package fails, never skips

    agents.set_tracing_disabled(True)
    seen = []

    @agents.function_tool
    def get_weather(city: str, unit: str = "celsius", days: list[int] | None = None) -> str:
        """Weather for a city."""
        seen.append(city)
        return f"sunny in {city}"

    responses_model = agents.OpenAIResponsesModel(
        model=model,
        openai_client=openai.AsyncOpenAI(base_url=f"{dario}/v1", api_key="client-key", max_retries=0),
    )
    agent = agents.Agent(name="weather", instructions="Use the tool.", tools=[get_weather], model=responses_model)
    prompt = "[scenario:tools] weather in Paris and Tokyo?"
    if streamed:
        async def run():
            result = agents.Runner.run_streamed(agent, prompt)
            kinds = [event.type async for event in result.stream_events()]
            return result, kinds

        result, kinds = asyncio.run(run())
        assert "raw_response_event" in kinds
    else:
        result = agents.Runner.run_sync(agent, prompt)
    assert seen == ["Paris", "Tōkyō"]
    assert result.final_output == TEXT
    path = BACKENDS[model][1]
    last = json.loads([r for r in standin_requests(standin) if r["uri"] == path][-1]["body"])
    sent = json.dumps(last, ensure_ascii=False)
    assert "sunny in Paris" in sent and "sunny in Tōkyō" in sent
