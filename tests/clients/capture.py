#!/usr/bin/env python3
"""Captures what the installed Claude Code sends, into tests/fixtures/claude-code/<version>/.

Run by scripts/capture-claude-code. Claude Code talks straight to the stand-in (no dario between),
inside a loopback-only network namespace, for a few sessions (CAPTURES below); every request the
stand-in receives becomes one file `NN-<session>-<what>.json` with method, path (with query),
headers and body, after secrets and per-run values are replaced by placeholders (redact()).
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from harness import PLACEHOLDER_KEY, Lane, NetNS, read_clients_env, run_claude

REPO = Path(__file__).resolve().parent.parent.parent

# (session name, prompt, model, allowed tools, stand-in options, extra environment)
CAPTURES = [
    ("text", "SCENARIO:text Say something.", "claude-sonnet-5-5", (), {}, {}),
    ("bash", "SCENARIO:bash Run the marker command.", "claude-sonnet-5-5", ("Bash",), {}, {}),
    ("parallel", "SCENARIO:parallel Run both.", "claude-sonnet-5-5", ("Bash",), {}, {}),
    ("tool-error", "SCENARIO:toolerror Run the failing command.", "claude-sonnet-5-5", ("Bash",), {}, {}),
    ("thinking", "SCENARIO:thinking Think, then compute.", "claude-sonnet-5-5", ("Bash",), {}, {}),
    ("files", "SCENARIO:files PATH=<cwd>/notes.txt Create, read and edit the file.", "claude-sonnet-5-5",
     ("Read", "Write", "Edit"), {}, {}),
    ("subagent", "SCENARIO:subagent Delegate to a sub-agent.", "claude-sonnet-5-5", ("Agent", "Bash"), {}, {}),
    # A model name Claude Code does not know, as a user of a translated backend would pick.
    ("non-claude-model", "SCENARIO:bash Run the marker command.", "llama-3.3-70b", ("Bash",), {}, {}),
    # The upstream refuses `role: "system"` in messages; Claude Code resends without them.
    ("mid-system-rejected", "SCENARIO:bash Run the marker command.", "claude-sonnet-5-5", ("Bash",),
     {"reject_mid_system": True}, {}),
    # Non-essential traffic allowed (start-up probes) and gateway model discovery on.
    ("discovery-and-probes", "SCENARIO:text Say something.", "claude-sonnet-5-5", (), {},
     {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": None, "CLAUDE_CODE_ENABLE_GATEWAY_MODEL_DISCOVERY": "1"}),
]

UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)
HEX64_RE = re.compile(r"\b[0-9a-f]{64}\b")
KEY_RE = re.compile(r"\b(sk-[A-Za-z0-9_-]{6,})")
SECRET_HEADERS = {"x-api-key": "<api-key>", "authorization": "<authorization>", "cookie": "<cookie>"}


class Redactor:
    """Replaces per-run values with stable placeholders, the same value with the same placeholder
    across one capture (so a session id shared by two requests still reads as shared)."""

    def __init__(self, paths: dict):
        self.paths = sorted(paths.items(), key=lambda kv: -len(kv[0]))  # longest first
        self.seen = {}

    def _token(self, kind, value):
        key = (kind, value)
        if key not in self.seen:
            n = sum(1 for k in self.seen if k[0] == kind) + 1
            self.seen[key] = f"<{kind}-{n}>"
        return self.seen[key]

    def text(self, s: str) -> str:
        for path, name in self.paths:
            s = s.replace(path, name)
        s = KEY_RE.sub(lambda m: "<api-key>", s)
        s = UUID_RE.sub(lambda m: self._token("uuid", m.group(0).lower()), s)
        s = HEX64_RE.sub(lambda m: self._token("hex", m.group(0)), s)
        s = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", s)
        s = re.sub(r"(OS Version: )[^\n\"\\]*", r"\1<os-version>", s)
        return s

    def value(self, v):
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        return v

    def request(self, e: dict) -> dict:
        headers = {}
        for k, v in e["headers"].items():
            if k in SECRET_HEADERS:
                headers[k] = SECRET_HEADERS[k]
            elif k == "content-length":
                headers[k] = "<length>"  # the body below is redacted, so its length changed
            elif k == "x-stainless-retry-count" or k == "x-stainless-timeout":
                headers[k] = v
            else:
                headers[k] = self.text(v)
        return {
            "method": e["method"],
            "path": self.text(e["path"]),
            "headers": headers,
            "body": self.value(e["body"]),
            "stand_in_status": e["status"],
        }


def slug(e) -> str:
    path = e["path"].split("?")[0].strip("/").replace("/", "-") or "root"
    return f"{e['method'].lower()}-{path}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", help="default tests/fixtures/claude-code/<version>")
    ap.add_argument("--only", action="append", help="capture only these sessions")
    a = ap.parse_args()
    env = read_clients_env()
    claude = env.get("CLAUDE_BIN")
    if not claude:
        sys.exit("capture: no CLAUDE_BIN; run scripts/install-clients first")
    version = env.get("CLAUDE_CODE_VERSION") or "unknown"
    out = Path(a.out or REPO / "tests" / "fixtures" / "claude-code" / version)
    ns = NetNS.create(f"dario-cap-{os.getpid()}")
    work = Path(tempfile.mkdtemp(prefix="dario-capture-"))
    try:
        if out.exists():
            for f in out.glob("*.json"):
                f.unlink()
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        for name, prompt, model, tools, opts, extra in CAPTURES:
            if a.only and name not in a.only:
                continue
            d = work / name
            d.mkdir()
            lane = Lane(ns, "", "anthropic", d, dario=False, **opts)
            try:
                extra_env = {k: v for k, v in extra.items() if v is not None}
                prompt = prompt.replace("<cwd>", str(d / "cwd"))
                r = run_claude(ns, claude, lane.base_url, d, prompt, model, tools, extra_env=extra_env,
                               unset_env=[k for k, v in extra.items() if v is None], timeout=180)
            finally:
                lane.close()
            reqs = lane.requests()
            red = Redactor({str(d / "cwd"): "<cwd>", str(d / "home"): "<home>", str(d): "<workdir>",
                            PLACEHOLDER_KEY: "<api-key>"})
            print(f"{name}: claude exited {r.rc}, {len(reqs)} requests, result {str(r.result)[:80]!r}")
            for e in reqs:
                n += 1
                path = out / f"{n:02d}-{name}-{slug(e)}.json"
                path.write_text(json.dumps(red.request(e), indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {n} requests to {out}")
    finally:
        ns.delete()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
