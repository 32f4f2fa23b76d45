"""The dashboard in a real browser: Debian's Chromium driven by chromedriver (Selenium), against
the real `dario` binary serving stand-in traffic.

It checks that the numbers on the page are the ones `/analytics?since=` gives, that a request
made while the page is open arrives through the live feed, that a request's details open on
click (and hold no key), that the API-key prompt works, and that the page logs no console
error. It saves a screenshot to target/dashboard.png (DARIO_SCREENSHOT overrides the path).

A missing Chromium or chromedriver FAILS the test (scripts/install-browser installs them);
DARIO_SKIP_BROWSER=1 is the explicit opt-out.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

# Selenium must never fetch a browser or driver of its own: only the Debian packages are used.
os.environ.setdefault("SE_OFFLINE", "true")
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,2000",
]
# Waiting (for the page to load, for the feed to deliver) is bounded so a broken page fails
# instead of hanging; nothing is asserted about how long anything took.
WAIT = 30

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _browser_or_fail():
    if os.environ.get("DARIO_SKIP_BROWSER") == "1":
        pytest.skip("DARIO_SKIP_BROWSER=1: the browser test is skipped on request")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: run scripts/install-browser (apt-get install chromium "
            "chromium-driver), or set DARIO_SKIP_BROWSER=1 to skip the browser test"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in FLAGS:
        opts.add_argument(f)
    profile = tempfile.mkdtemp(prefix="dario-chromium-")
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT)
    return driver, profile


@pytest.fixture
def browser():
    driver, profile = _browser_or_fail()
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_dario(standin, api_key=None):
    home = tempfile.mkdtemp(prefix="dario-home-")
    os.chmod(home, 0o700)
    os.makedirs(os.path.join(home, "backends"), mode=0o700)
    path = os.path.join(home, "backends", "compat.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"name": "compat", "protocol": "openai", "base_url": f"{standin}/v1",
                   "key": "sk-compat-browser-test-0001", "models": ["llama-*", "qwen-*"]}, f)
    # Prices for the stand-in's models, so costs are not all zero.
    with open(os.path.join(home, "config.toml"), "w") as f:
        f.write('[prices."llama-*"]\ninput = 3.0\noutput = 15.0\n'
                '[prices."qwen-*"]\ninput = 0.5\noutput = 1.5\ncache_read = 0.05\n')
    port = _free_port()
    env = dict(os.environ, DARIO_HOME=home, HOME=home)
    for k in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "DARIO_API_KEY"):
        env.pop(k, None)
    if api_key:
        env["DARIO_API_KEY"] = api_key
    proc = subprocess.Popen([os.environ["DARIO_BIN"], "proxy", "--port", str(port)],
                            env=env, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + WAIT
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                break
        except OSError:
            assert proc.poll() is None, "dario exited"
            assert time.time() < deadline, "dario did not start"
            time.sleep(0.05)
    return proc, base


@pytest.fixture
def proxy(standin):
    proc, base = _start_dario(standin)
    yield base
    proc.terminate()
    proc.wait(timeout=15)


def _post(base, path, body, headers=None):
    req = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=WAIT) as r:
        assert r.status == 200
        return json.load(r)


def _get(base, path, key=None):
    req = urllib.request.Request(base + path, headers={"x-api-key": key} if key else {})
    with urllib.request.urlopen(req, timeout=WAIT) as r:
        return json.load(r)


def traffic(base, n, key=None):
    auth = {"x-api-key": key} if key else {}
    for i in range(n):
        cc = {"user-agent": "claude-cli/2.1.332 (external, cli)",
              "x-claude-code-session-id": "browser-session-1"} if i % 2 == 0 else {}
        if i % 3 == 2:
            _post(base, "/v1/messages", {"model": "qwen-3", "max_tokens": 16,
                                         "messages": [{"role": "user", "content": "hi"}]},
                  {**cc, **auth})
        else:
            _post(base, "/v1/chat/completions",
                  {"model": "llama-3.3", "messages": [{"role": "user", "content": "hi"}]},
                  {**cc, **auth})


def _value(driver, el_id):
    return driver.find_element("id", el_id).get_attribute("data-value")


def _wait(driver, predicate, what):
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT, poll_frequency=0.1).until(
        lambda d: predicate(d), message=f"waiting for {what}")


def _assert_page_matches(driver, analytics, today):
    t = analytics["window"]["totals"]
    assert int(_value(driver, "total-requests")) == t["requests"]
    assert int(_value(driver, "total-errors")) == t["errors"]
    assert int(_value(driver, "total-tokens")) == t["tokens"]["total"]
    assert float(_value(driver, "total-cost")) == pytest.approx(t["cost_usd"], abs=1e-9)
    assert float(_value(driver, "cost-today")) == pytest.approx(
        today["window"]["totals"]["cost_usd"], abs=1e-9)
    assert float(_value(driver, "lat-p50")) == pytest.approx(t["latency_ms"]["p50"])
    assert float(_value(driver, "lat-p95")) == pytest.approx(t["latency_ms"]["p95"])
    assert float(_value(driver, "ttfb-p50")) == pytest.approx(t["ttfb_ms"]["p50"])
    rows = driver.find_elements("css selector", "#models tbody tr")
    assert len(rows) == len(analytics["window"]["by_model"])
    first = rows[0].find_elements("tag name", "td")
    top = analytics["window"]["by_model"][0]
    assert [first[0].text, first[1].text, first[2].text] == [
        top["backend"], top["model"], f"{top['requests']:,}"]


def _console_errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def test_dashboard_numbers_live_updates_and_details(proxy, browser):
    base = proxy
    traffic(base, 7)
    browser.get(f"{base}/dashboard")
    _wait(browser, lambda d: _value(d, "total-requests") not in (None, ""), "the first numbers")
    _wait(browser, lambda d: d.find_element("id", "live").text.startswith("live"), "the feed")
    # Settled: nothing is in flight, so the page and the API must agree exactly.
    _assert_page_matches(browser, _get(base, "/analytics?since=24h"),
                         _get(base, "/analytics?since=today"))
    assert browser.find_element("id", "history-state").text == "history: ok"
    recent = browser.find_elements("css selector", "#recent tbody tr")
    assert len(recent) == 7

    # Live: new requests show up through the feed (data-records counts feed events).
    traffic(base, 3)
    _wait(browser, lambda d: int(d.find_element("id", "live").get_attribute("data-records") or 0) >= 3,
          "three records from the live feed")
    _wait(browser, lambda d: _value(d, "total-requests") == "10", "the new total")
    # The feed adds records to the totals at once; percentiles and tables come with the next
    # state snapshot (every few seconds): once one newer than the traffic has arrived, the page
    # must agree with the API exactly again.
    sent = _get(base, "/analytics?since=24h")["generated_at"]
    _wait(browser, lambda d: d.execute_script("return state.generated_at") > sent,
          "a state snapshot newer than the traffic")
    _assert_page_matches(browser, _get(base, "/analytics?since=24h"),
                         _get(base, "/analytics?since=today"))
    assert len(browser.find_elements("css selector", "#recent tbody tr")) == 10
    sessions = browser.find_elements("css selector", "#sessions tbody tr")
    _wait(browser, lambda d: len(d.find_elements("css selector", "#sessions tbody tr")) == 1,
          "the session table")

    # Details of a request on click: names and numbers, never a key.
    browser.find_element("css selector", "#recent tbody tr").click()
    details = browser.find_element("id", "details")
    assert details.is_displayed()
    shown = json.loads(details.text)
    assert shown["request_id"].startswith("req_")
    assert shown["backend"] == "compat"
    assert "sk-" not in details.text

    # Pool and routing tables are drawn from the state.
    pool_rows = browser.find_elements("css selector", "#pool tbody tr")
    assert len(pool_rows) >= 1
    assert sessions is not None

    shot = os.environ.get("DARIO_SCREENSHOT", os.path.join(ROOT, "target", "dashboard.png"))
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    assert browser.save_screenshot(shot)
    assert os.path.getsize(shot) > 10_000

    errors = _console_errors(browser)
    assert errors == [], errors


def test_dashboard_asks_for_the_api_key(standin, browser):
    key = "dario-browser-key-0001"
    proc, base = _start_dario(standin, api_key=key)
    try:
        traffic(base, 2, key=key)
        browser.get(f"{base}/dashboard")
        _wait(browser, lambda d: d.find_element("id", "login").is_displayed(), "the key prompt")
        assert not browser.find_element("id", "main").is_displayed()
        browser.find_element("id", "key").send_keys("wrong-key")
        browser.find_element("css selector", "#login button").click()
        _wait(browser, lambda d: "refused" in d.find_element("id", "login-error").text,
              "the refusal")
        box = browser.find_element("id", "key")
        box.clear()
        box.send_keys(key)
        browser.find_element("css selector", "#login button").click()
        _wait(browser, lambda d: _value(d, "total-requests") == "2", "the numbers after login")
        _assert_page_matches(browser, _get(base, "/analytics?since=24h", key),
                             _get(base, "/analytics?since=today", key))
        # The key lives in this tab's sessionStorage only.
        assert browser.execute_script("return sessionStorage.getItem('dario-api-key')") == key
        assert browser.execute_script("return localStorage.getItem('dario-api-key')") is None
        # The refused attempt is the only console error (a 401 is logged by Chromium).
        errors = [e for e in _console_errors(browser) if "401" not in e["message"]]
        assert errors == [], errors
    finally:
        proc.terminate()
        proc.wait(timeout=15)
