"""`GET /metrics` parses with the Prometheus client library's own text parser."""
import urllib.request

import openai
from prometheus_client.parser import text_string_to_metric_families


def test_metrics_parse_with_prometheus_client(dario):
    client = openai.OpenAI(base_url=f"{dario}/v1", api_key="k", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with urllib.request.urlopen(f"{dario}/metrics") as r:
        assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in [
        "dario_requests",
        "dario_tokens",
        "dario_request_duration_seconds",
        "dario_time_to_first_byte_seconds",
        "dario_proxy_overhead_seconds",
        "dario_in_flight_requests",
        "dario_failovers",
    ]:
        assert name in families, (name, sorted(families))
    samples = [s for s in families["dario_requests"].samples if s.labels.get("backend") == "openai"]
    assert samples and samples[0].value >= 1
    hist = families["dario_request_duration_seconds"]
    assert hist.type == "histogram"
    assert any(s.name.endswith("_bucket") and s.labels.get("le") == "+Inf" for s in hist.samples)
