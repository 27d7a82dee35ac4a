"""Secrets never reach the trace store or an exported case, and redacted runs still replay."""

from __future__ import annotations

import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from agentbox.cli import app
from agentbox.redact import MARKER, Redactor, is_secret_key

ENV_SECRET = "sk-test-1234567890abcdef"
PARAM_KEY = "sk-param-literal-0001"
PASSWORD = "hunter2-secret-pw"
RESULT_TOKEN = "tok-live-abcdef123456"
SSN = "078-05-1120-x"
SECRETS = [ENV_SECRET, PARAM_KEY, PASSWORD, RESULT_TOKEN, SSN]

TOOLS = f'''
from agentbox import State, tool


@tool(effect="write")
def save_note(state: State, text: str) -> dict:
    """Save a note.

    Args:
        text: The note.
    """
    note = {{"text": text}}
    state.put("notes", f"n{{state.count('notes') + 1}}", note)
    return note


@tool
def get_config(state: State) -> dict:
    """Read the service configuration (which holds a token)."""
    return {{"service": "billing", "api_token": "{RESULT_TOKEN}", "url": "https://b.test/?x=1"}}


@tool(effect="write")
def login(state: State, user: str, password: str, ssn: str) -> dict:
    """Store a user's credentials.

    Args:
        user: User name.
        password: Their password.
        ssn: Their social security number.
    """
    state.put("users", user, {{"password": password, "ssn": ssn}})
    return {{"user": user, "ok": True}}
'''

SCENARIO = f"""
name: secrets
sandbox: vault
input: "my key is {ENV_SECRET}, keep it"
agent:
  type: llm
  model: scripted
  params: {{api_key: {PARAM_KEY}, temperature: 0}}
script:
  - tool_calls: [{{save_note: {{text: "key {ENV_SECRET}"}}}}]
  - tool_calls: [{{get_config: {{}}}}]
  - tool_calls: [{{login: {{user: ann, password: {PASSWORD}, ssn: "{SSN}"}}}}]
  - say: "saved {ENV_SECRET} for you"
expect:
  status: completed
"""


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    box = tmp_path / "sandboxes" / "vault"
    (box / "seed").mkdir(parents=True)
    (box / "tools.py").write_text(TOOLS)
    (box / "seed" / "notes.json").write_text("{}")
    (box / "seed" / "users.json").write_text("{}")
    (tmp_path / ".agentbox.toml").write_text('store = "traces.db"\n\n[redact]\nkeys = ["ssn"]\n')
    (tmp_path / "secrets.yaml").write_text(SCENARIO)
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def agentbox(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def stored_bytes(project: Path) -> bytes:
    """The store's file bytes, plus its state blobs decompressed (they are zlib: a secret in
    a seed, an edited state or a read set would not show in the raw bytes)."""
    files = [project / "traces.db", project / "traces.db-wal"]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    if not files[0].exists():
        return raw
    conn = sqlite3.connect(files[0])
    try:
        blobs = [zlib.decompress(row[0]) for row in conn.execute("SELECT data FROM blobs")]
    finally:
        conn.close()
    return raw + b"".join(blobs)


def test_no_secret_reaches_the_store_or_an_exported_case(project: Path) -> None:
    code, out, err = agentbox("run", "secrets.yaml", "--json")
    assert code == 0, err
    run = json.loads(out)
    assert run["status"] == "completed" and run["passed"]
    data = stored_bytes(project)
    assert data and b"billing" in data  # the store holds the run...
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret} is in the store"
    assert MARKER.encode() in data

    code, out, err = agentbox("show", run["run_id"], "--json")
    shown = json.loads(out)
    assert shown["steps"][1]["data"]["args"] == {"text": f"key {MARKER}"}
    assert not any(secret in out for secret in SECRETS)

    code, out, err = agentbox("export", run["run_id"], "--suite", "suites/s", "--name", "c")
    assert code == 0, err
    case = (project / "suites" / "s" / "c.yaml").read_text()
    assert not any(secret in case for secret in SECRETS)
    assert f"api_key: '{MARKER}'" in case

    # the redacted case replays: its request hashes hold across the redaction
    code, out, err = agentbox("test", "suites/s", "--json")
    assert code == 0, out + err
    assert json.loads(out)["passed"] is True
    # so does the stored run (from its cassette), and neither wrote a secret
    code, out, err = agentbox("replay", run["run_id"])
    assert code == 0, out + err
    data = stored_bytes(project)
    for secret in SECRETS:
        assert secret.encode() not in data, f"{secret} is in the store after replay"


@pytest.mark.parametrize("extra", [["ssn"], []])
def test_redacting_is_idempotent_and_agrees_with_json_text(extra: list[str]) -> None:
    r = Redactor([ENV_SECRET], keys=extra)
    value = {
        "apiKey": "k-123",
        "input_tokens": 12,
        "max_tokens": 100,
        "idempotency_key": "r-5531",
        "headers": {"Authorization": "Bearer abc123456789", "X-API-Key": "zz"},
        "nested": [{"access_token": 7, "ssn": SSN, "secret": {"kept": "x"}}],
        "text": f"key={ENV_SECRET}&password=pw12345678 Bearer abcdef1234567",
    }
    once = r(value)
    assert r(once) == once
    assert once["input_tokens"] == 12 and once["max_tokens"] == 100
    assert once["idempotency_key"] == "r-5531"
    ssn = MARKER if extra else SSN
    assert once["nested"][0] == {"access_token": MARKER, "ssn": ssn, "secret": {"kept": "x"}}
    assert ENV_SECRET not in json.dumps(once) and "pw12345678" not in json.dumps(once)
    # a dict redacted then dumped == dumped then redacted (what request hashing relies on)
    assert json.loads(r.text(json.dumps(value, sort_keys=True))) == once


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_key", True),
        ("OPENAI_API_KEY", True),
        ("apiKey", True),
        ("Proxy-Authorization", True),
        ("refresh_token", True),
        ("client_secret", True),
        ("aws_secret_access_key", True),
        ("private_key", True),
        ("new_password", True),
        ("output_tokens", False),
        ("token_count", False),
        ("idempotency_key", False),
        ("order_id", False),
    ],
)
def test_secret_key_names(key: str, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_resume_and_fork_get_the_secrets_back_from_the_scenario_file(project: Path) -> None:
    from agentbox.config import load_settings
    from agentbox.lifecycle import plan_for_run
    from agentbox.store import TraceStore

    code, out, err = agentbox("run", "secrets.yaml", "--json")
    run_id = json.loads(out)["run_id"]
    code, out, err = agentbox("fork", run_id, "--at", "3", "--json")
    assert code == 0, out + err
    assert json.loads(out)["status"] == "completed"
    for secret in SECRETS:
        assert secret.encode() not in stored_bytes(project)

    store = TraceStore(project / "traces.db")
    try:
        run = store.get_run(run_id)
        assert run.scenario_json["agent"]["params"]["api_key"] == MARKER
        plan = plan_for_run(store, run, load_settings(project))
        assert plan.scenario.agent.params == {"api_key": PARAM_KEY, "temperature": 0}
        assert plan.scenario.input == f"my key is {ENV_SECRET}, keep it"
        (project / "secrets.yaml").unlink()  # without the file only the marker is left
        plan = plan_for_run(store, run, load_settings(project))
        assert plan.scenario.agent.params["api_key"] == MARKER
    finally:
        store.close()


HELD = SCENARIO.replace(
    "expect:\n  status: completed\n",
    "policy:\n  rules: [{name: creds, tool: login, tier: yellow}]\napprovals: approve\n",
)


def test_a_parked_call_with_a_redacted_secret_is_not_executed_with_the_marker(
    project: Path,
) -> None:
    (project / "held.yaml").write_text(HELD)
    _code, out, err = agentbox("run", "held.yaml", "--detach", "--json")
    parked = json.loads(out)
    assert parked["status"] == "awaiting_approval", out + err
    approval = parked["pending_approval"]
    assert agentbox("approve", approval)[0] == 0
    _code, out, err = agentbox("resume", parked["run_id"], "--json")
    run = json.loads(out)
    steps = json.loads(agentbox("show", run["run_id"], "--json")[1])["steps"]
    (login,) = [s for s in steps if s["kind"] == "tool" and s["name"] == "login"]
    assert login["status"] == "denied"  # never ran with "[redacted]" as the password
    assert "password, ssn: secret arguments the trace does not keep" in login["data"]["result"]
    assert run["changes"] == [c for c in run["changes"] if c["collection"] != "users"]

    # giving the secret again at the decision runs it
    (project / "held2.yaml").write_text(HELD.replace("name: secrets", "name: secrets2"))
    parked = json.loads(agentbox("run", "held2.yaml", "--detach", "--json")[1])
    edit = ["--edit", "password=new-pass-1", "--edit", "ssn=000-00-0000"]
    assert agentbox("approve", parked["pending_approval"], *edit)[0] == 0
    run = json.loads(agentbox("resume", parked["run_id"], "--json")[1])
    assert run["status"] == "completed"
    assert any(c["collection"] == "users" for c in run["changes"])


def test_redactors_of_the_same_secrets_are_shared_and_a_new_secret_is_still_caught() -> None:
    env = {"SHOP_API_KEY": "sk-live-0123456789", "HOME": "/home/x"}
    first = Redactor.from_env(env)
    assert Redactor.from_env(dict(env)) is first  # warm caches carry over to the next run
    assert first("key sk-live-0123456789") == f"key {MARKER}"
    changed = Redactor.from_env({**env, "SHOP_API_KEY": "sk-live-9876543210"})
    assert changed is not first
    assert changed("key sk-live-9876543210") == f"key {MARKER}"
    assert Redactor.from_env(env, keys=["pin"]) is not first


def _reference_walk(r: Redactor, value: Any) -> Any:
    """The plain recursive walk the redactor's inlined fast paths must agree with."""
    if isinstance(value, str):
        return r.text(value)
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if v is None or v is True or v is False:
                out[k] = v
            elif isinstance(v, str):
                out[k] = MARKER if v and is_secret_key(str(k), r.keys) else r.text(v)
            elif isinstance(v, int | float):
                out[k] = MARKER if is_secret_key(str(k), r.keys) else v
            else:
                out[k] = _reference_walk(r, v)
        return out
    if isinstance(value, list | tuple):
        return [_reference_walk(r, v) for v in value]
    return value


_KEYS = st.sampled_from(["id", "api_key", "apiKey", "token", "note", "password", "pin", 3])
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["", "ok", "sk-live-0123456789", 'x {"api_key": "abcdef12"} y', "a=1"]),
    st.text(max_size=30),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.tuples(kids, kids),
        st.dictionaries(_KEYS, kids, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(value=_VALUES)
def test_the_fast_walk_redacts_exactly_as_the_plain_walk(value: Any) -> None:
    r = Redactor(["sk-live-0123456789"], keys=["pin"])
    assert r(value) == _reference_walk(r, value)
    assert r(value) == _reference_walk(r, value)  # and again from warm caches
