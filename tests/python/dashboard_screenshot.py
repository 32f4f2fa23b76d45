"""Regenerates docs/dashboard.png: a proxy whose history is seeded with a day of made-up
requests (four models, sessions, a few errors), plus live stand-in traffic, in Debian's Chromium.

    DARIO_BIN=target/debug/dario STANDIN_BIN=target/debug/examples/standin \
        target/venv/bin/python tests/python/dashboard_screenshot.py
"""
import os, random, sqlite3, subprocess, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_dashboard_browser as t
p = subprocess.Popen([os.environ["STANDIN_BIN"], "0"], stdout=subprocess.PIPE, text=True)
standin = "http://" + p.stdout.readline().split()[1]
proc, base = t._start_dario(standin)
t.traffic(base, 3)
st = t._get(base, "/status")
db = st["history"]["path"]
proc.terminate(); proc.wait()
random.seed(7)
c = sqlite3.connect(db)
now = int(time.time() * 1000)
models = [("anthropic", "claude-sonnet-5", 3.0, 15.0, "anthropic"), ("anthropic", "claude-haiku-5", 1.0, 5.0, "anthropic"),
          ("openai", "gpt-5", 1.25, 10.0, "openai"), ("groq", "llama-3.3-70b-versatile", 0.59, 0.79, "openai")]
rows = []
for i in range(1500):
    ts = now - int(random.random() ** 0.7 * 86_400_000)
    b, m, pin, pout, proto = random.choices(models, weights=[5, 2, 2, 3])[0]
    inp = random.randint(200, 4000); out = random.randint(50, 1500); cr = random.randint(0, 30000) if b == "anthropic" else 0
    cw = random.randint(0, 3000) if b == "anthropic" and random.random() < .2 else 0
    cost = (inp * pin + out * pout + cr * pin * 0.1 + cw * pin * 1.25) / 1e6
    status = 200 if random.random() > 0.02 else random.choice([429, 529, 500])
    lat = int(random.lognormvariate(13.5, 0.8)); ttfb = int(lat * random.uniform(0.05, 0.4))
    sess = random.choice(["7f3a-claude-code-main", "c91e-refactor", "02bd-tests"]) if b == "anthropic" else None
    rows.append((ts, f"req_{i:016x}", "/v1/messages" if proto == "anthropic" else "/v1/chat/completions", proto,
                 "claude-code" if sess else random.choice(["openai-python", "curl", "anthropic-python"]), sess,
                 f"agent-{random.randint(0,2)}" if sess else None, b, "default" if b != "groq" else random.choice(["east", "west"]),
                 m, m, m, status, 1, 1 if status == 200 else 2, lat, ttfb, random.randint(80, 400), inp, out, cr, cw, 0, cost, 1,
                 "top_k" if b == "groq" and random.random() < 0.3 else ""))
c.executemany("INSERT INTO requests (ts_ms, request_id, endpoint, inbound, client, session_id, agent_id, backend, deployment, requested_model, upstream_model, model, status, streamed, attempts, latency_us, ttfb_us, overhead_us, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_usd, priced, dropped) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
c.commit(); c.close()
home = os.path.dirname(db)
env = dict(os.environ, DARIO_HOME=home, HOME=home)
port = t._free_port()
proc = subprocess.Popen([os.environ["DARIO_BIN"], "proxy", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"
time.sleep(1)
d, prof = t._browser_or_fail()
d.set_window_size(1400, 1500)
d.get(base + "/dashboard")
time.sleep(2)
t.traffic(base, 4)
time.sleep(1.5)
d.save_screenshot(os.path.join(t.ROOT, "docs", "dashboard.png"))
assert t._console_errors(d) == []
d.quit(); proc.terminate(); p.terminate()
