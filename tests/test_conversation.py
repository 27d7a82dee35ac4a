"""Conversations (issue 15): scripted, simulated and python users; user turns as steps.

The simulated user talks to a local stdlib OpenAI-compatible server on loopback; replays
and suite cases run with that server shut down, so they prove to be offline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbox.store import StepRow, TraceStore
from tests.chat_server import ChatServer, completion, loopback_litellm_env

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "conversation"


def load(store_path: Path, run_id: str | None = None) -> tuple[Any, list[StepRow]]:
    store = TraceStore(store_path)
    try:
        run = store.get_run(run_id) if run_id else store.list_runs(limit=1)[0]
        return run, store.steps(run.id)
    finally:
        store.close()


def run_id_of(output: str) -> str:
    line = next(ln for ln in output.splitlines() if ln.startswith("trace: agentbox show"))
    return line.split()[-1]


# ---- scripted users --------------------------------------------------------------------
def test_scripted_conversation_runs_is_shown_and_replays(cli, store_path: Path) -> None:
    result = cli("run", "scenarios/conversation-refund.yaml")
    assert result.exit_code == 0, result.output
    run, steps = load(store_path)
    assert run.status == "completed" and run.passed is True
    users = [s for s in steps if s.kind == "user"]
    assert [u.data["text"] for u in users] == [
        "It's ord_5531.",
        "Yes please, refund it.",
        "No, that's all. Thanks!",
    ]
    assert [u.data["by"] for u in users] == ["scripted"] * 3
    assert [u.data["turn"] for u in users] == [1, 2, 3]
    # in order: each user turn answers the agent's question right before it
    assert users[1].data["in_reply_to"].endswith("Shall I refund the full $240 to your card?")
    kinds = [s.kind for s in steps]
    assert kinds.index("user") == 1 and kinds[users[1].idx + 1] == "llm"
    assert run.counters["user_turns"] == 3

    shown = cli("show", run.id)
    assert shown.exit_code == 0, shown.output
    assert "user   scripted" in shown.output and "user turns  3" in shown.output
    for text in ("It's ord_5531.", "Yes please, refund it.", "No, that's all. Thanks!"):
        assert text in shown.output
    assert shown.output.index("It's ord_5531.") < shown.output.index("Yes please, refund it.")

    replay = cli("replay", run.id)
    assert replay.exit_code == 0, replay.output
    assert "identical" in replay.output


def test_guard_skips_a_turn_whose_condition_is_false(cli, make_scenario, store_path) -> None:
    path = make_scenario(
        "guarded",
        {
            "name": "guarded",
            "sandbox": "retail",
            "input": "hello",
            "script": [{"say": "How can I help?"}, {"say": "Bye."}],
            "user": [
                {"say": "never said", "after": "create_refund"},
                {"say": "said", "when": "'help' in lower(last) and turn == 1"},
            ],
        },
    )
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    _, steps = load(store_path)
    assert [s.data["text"] for s in steps if s.kind == "user"] == ["said"]


def test_fork_editing_the_second_user_message_changes_the_outcome(
    cli, make_scenario, store_path: Path
) -> None:
    path = make_scenario(
        "python-conv",
        {
            "name": "python-conv",
            "sandbox": "retail",
            "agent": {"type": "python", "entry": str(FIXTURES / "refund_agent.py") + ":run"},
            "input": "My jacket arrived damaged.",
            "user": ["ord_5531", "yes please"],
            "approvals": "approve",
        },
    )
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    parent, steps = load(store_path)
    assert parent.output == "Refunded $240."
    second = [s for s in steps if s.kind == "user"][1]

    forked = cli("fork", parent.id, "--at", str(second.idx), "--message", "no, keep it")
    assert forked.exit_code == 0, forked.output
    store = TraceStore(store_path)
    try:
        child = next(r for r in store.list_runs(limit=None) if r.parent_id == parent.id)
        child_steps = store.steps(child.id)
    finally:
        store.close()
    assert child.output == "Understood: no refund."
    assert not [s for s in child_steps if s.kind == "tool" and s.name == "create_refund"]
    # every step before the edited one is a byte-identical copy
    fields = ("idx", "kind", "name", "status", "data", "message", "patch", "counters")
    for a, b in zip(steps[: second.idx], child_steps[: second.idx], strict=True):
        assert json.dumps([getattr(a, f) for f in fields], sort_keys=True) == json.dumps(
            [getattr(b, f) for f in fields], sort_keys=True
        )
    edited = next(s for s in child_steps if s.kind == "user" and s.idx > second.idx)
    assert (edited.data["text"], edited.data["by"]) == ("no, keep it", "fork")


def test_python_user(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "python-user",
        {
            "name": "python-user",
            "sandbox": "retail",
            "agent": {"type": "python", "entry": str(FIXTURES / "refund_agent.py") + ":run"},
            "input": "My jacket arrived damaged.",
            "user": {"entry": str(FIXTURES / "customer.py") + ":customer"},
            "approvals": "approve",
            "expect": {"user_turns": 2, "confirmed_before": ["create_refund"]},
        },
    )
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    run, steps = load(store_path)
    assert run.output == "Refunded $240." and run.passed is True
    users = [s for s in steps if s.kind == "user"]
    assert [(u.data["by"], u.data["text"]) for u in users] == [
        ("python", "ord_5531"),
        ("python", "yes, thank you"),
    ]


def test_confirmed_before_fails_when_the_agent_did_not_ask(cli, make_scenario) -> None:
    path = make_scenario(
        "no-confirm",
        {
            "name": "no-confirm",
            "sandbox": "retail",
            "input": "Refund ord_5531 please.",
            "script": [
                {"say": "Which card should it go to."},
                {
                    "tool_calls": [
                        {
                            "create_refund": {
                                "order_id": "ord_5531",
                                "amount_usd": 40,
                                "idempotency_key": "k1",
                            }
                        }
                    ]
                },
                {"say": "Done."},
            ],
            "user": ["the usual one"],
            "expect": {"confirmed_before": ["create_refund"]},
        },
    )
    result = cli("run", path)
    assert result.exit_code == 1, result.output
    assert "without asking the user first" in " ".join(result.output.split())


# ---- bad input ---------------------------------------------------------------------------
def test_unknown_tool_in_a_guard_is_a_file_line_error(cli, make_scenario) -> None:
    text = (
        "name: bad-guard\nsandbox: retail\ninput: hi\nscript: [{say: hi}]\nuser:\n"
        "  - first\n  - {say: second, after: refund_everything}\n"
    )
    path = make_scenario("bad-guard", text)
    result = cli("run", path)
    assert result.exit_code == 2, result.output
    assert f"{path}:7: user.turns[1].after: unknown tool 'refund_everything'" in result.output


def test_bad_guard_expression_is_a_file_line_error(cli, make_scenario) -> None:
    text = (
        "name: bad-when\nsandbox: retail\ninput: hi\nscript: [{say: hi}]\nuser:\n"
        "  turns:\n    - {say: ok, when: \"'x' in lst\"}\n    - {say: two, when: 'last =='}\n"
    )
    path = make_scenario("bad-when", text)
    result = cli("run", path)
    assert result.exit_code == 2, result.output
    assert f"{path}:7: user.turns[0].when: unknown name 'lst'" in result.output
    assert f"{path}:8: user.turns[1].when: invalid expression" in result.output


def test_schema_covers_user(cli) -> None:
    result = cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert "user" in schema["properties"]
    spec = schema["$defs"]["UserSpec"]["properties"]
    assert {"turns", "model", "instructions", "stop", "max_turns", "entry"} <= set(spec)
    assert {"after", "when", "say"} <= set(schema["$defs"]["UserTurn"]["properties"])


# ---- a simulated user over loopback ------------------------------------------------------
class FakeUserModel(ChatServer):
    """An OpenAI-compatible server playing the customer from its own past turns."""

    def __init__(self, replies: Callable[[int], str]) -> None:
        self.replies = replies
        super().__init__()

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        said = sum(1 for m in body["messages"] if m["role"] == "assistant")
        message = {"role": "assistant", "content": self.replies(said)}
        return completion(body, message, number=len(self.requests))


CUSTOMER = [
    "Hi, my jacket order ord_5531 arrived damaged. Can I get my money back?",
    "Yes, go ahead.",
    "###STOP###",
]


@pytest.fixture()
def litellm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    loopback_litellm_env(monkeypatch)


@pytest.fixture()
def customer(litellm_env: None) -> Iterator[FakeUserModel]:
    fake = FakeUserModel(lambda said: CUSTOMER[min(said, len(CUSTOMER) - 1)])
    try:
        yield fake
    finally:
        fake.close()


def simulated(port: int, **user: Any) -> dict[str, Any]:
    return {
        "name": "simulated-refund",
        "sandbox": "retail",
        "input": "",  # the simulated customer opens the conversation
        "script": [
            {"tool_calls": [{"get_order": {"order_id": "ord_5531"}}]},
            {"say": "Order ord_5531 was $240. Shall I refund it to your card?"},
            {
                "tool_calls": [
                    {
                        "create_refund": {
                            "order_id": "ord_5531",
                            "amount_usd": 240,
                            "idempotency_key": "r-5531",
                        }
                    }
                ]
            },
            {"say": "Done: your $240 refund is on its way."},
        ],
        "user": {
            "model": "openai/gpt-4o-mini",
            "params": {"api_base": f"http://127.0.0.1:{port}/v1", "api_key": "test"},
            "instructions": "You are cus_1042. Your jacket (ord_5531) arrived damaged.",
            **user,
        },
        "approvals": "approve",
        "expect": {
            "status": "completed",
            "tool_calls": [{"create_refund": {"order_id": "ord_5531"}}],
            "confirmed_before": ["create_refund"],
            "user_final_contains": ["###STOP###"],
        },
    }


def test_simulated_user_stops_and_replays_offline(
    cli, make_scenario, store_path: Path, customer: FakeUserModel, tmp_path: Path
) -> None:
    path = make_scenario("simulated", simulated(customer.port))
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    run, steps = load(store_path)
    assert run.status == "completed" and run.passed is True
    users = [s for s in steps if s.kind == "user"]
    assert [u.data["text"] for u in users] == CUSTOMER
    assert users[-1].data["stop"] is True
    assert users[0].idx == 0, "the simulated user opened the conversation"
    assert len(customer.requests) == 3
    system = customer.requests[0]["messages"][0]
    assert system["role"] == "system" and "ord_5531) arrived damaged" in system["content"]
    assert "###STOP###" in system["content"]
    # the agent's words reach the simulated user as `user` messages
    assert customer.requests[1]["messages"][-1] == {
        "role": "user",
        "content": "Order ord_5531 was $240. Shall I refund it to your card?",
    }
    # the simulated user's tokens and cost are its own, apart from the agent's
    c = run.counters
    assert (c["user_input_tokens"], c["user_output_tokens"]) == (300, 30)
    assert c["user_cost_usd"] > 0 and c["cost_usd"] == 0
    summary = " ".join(result.output.split())
    assert "user turns 3 (simulated user: 330 tok, $0.0001; not in the agent's cost)" in summary
    assert "user simulated gpt-4o-mini 110 tok" in " ".join(result.output.split())
    assert users[0].data["usage"]["input_tokens"] == 100
    # the first agent request starts with the customer's opening words
    first_llm = next(s for s in steps if s.kind == "llm")
    assert first_llm.data["request"]["delta"][-1]["content"] == CUSTOMER[0]

    case_dir = tmp_path / "suite"
    exported = cli("export", run.id, "--suite", str(case_dir), "--name", "simulated")
    assert exported.exit_code == 0, exported.output
    customer.close()  # from here on, nothing can reach the simulated user's model

    replay = cli("replay", run.id)
    assert replay.exit_code == 0, replay.output
    assert "identical" in replay.output

    case = (case_dir / "simulated.yaml").read_text()
    assert "user_calls:" in case and "user_turns: 3" in case
    tested = cli("test", str(case_dir))
    assert tested.exit_code == 0, tested.output
    assert "1 passed" in tested.output

    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",
        "no:agentbox",
        "-p",
        "no:phoenix",
        "-p",
        "agentbox.pytest_plugin",
        "-q",
        str(case_dir),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_simulator_that_never_stops_is_ended_by_max_turns(
    cli, make_scenario, store_path: Path
) -> None:
    path = make_scenario(
        "chatty",
        {
            "name": "chatty",
            "sandbox": "retail",
            "input": "hello",
            "script": [{"say": "How can I help?", "repeat": 50}],
            "user": {"model": "scripted", "script": ["Hm."] * 50, "max_turns": 4},
        },
    )
    result = cli("run", path)
    assert result.exit_code == 1, result.output
    run, steps = load(store_path)
    assert run.status == "halted"
    assert "user.max_turns=4 user turns reached" in run.reason
    assert "'###STOP###'" in run.reason
    assert len([s for s in steps if s.kind == "user"]) == 4
    assert "user.max_turns=4" in result.output


def test_a_simulator_breaking_character_is_a_simulator_error(
    cli, make_scenario, store_path: Path
) -> None:
    path = make_scenario(
        "broken-sim",
        {
            "name": "broken-sim",
            "sandbox": "retail",
            "input": "hello",
            "script": [{"say": "How can I help?", "repeat": 5}],
            "user": {
                "model": "scripted",
                "script": ["I need help.", "As an AI language model, I cannot be a customer."],
            },
        },
    )
    result = cli("run", path)
    assert result.exit_code == 1, result.output
    run, steps = load(store_path)
    assert run.status == "simulator_error"
    assert "broke character" in run.reason
    last_user = [s for s in steps if s.kind == "user"][-1]
    assert last_user.status == "error"


def test_simulator_errors_are_counted_apart_in_suites(cli, make_scenario, tmp_path: Path) -> None:
    suite = tmp_path / "mixed"
    suite.mkdir()
    good = {
        "name": "good",
        "sandbox": "retail",
        "input": "hi",
        "script": [{"say": "Hello?"}, {"say": "Bye."}],
        "user": ["hi again"],
    }
    bad = {
        "name": "bad-sim",
        "sandbox": "retail",
        "input": "hi",
        "script": [{"say": "Hello?", "repeat": 3}],
        "user": {"model": "scripted", "script": ["as an AI, I can't"]},
    }
    import yaml

    (suite / "good.yaml").write_text(yaml.safe_dump(good))
    (suite / "bad-sim.yaml").write_text(yaml.safe_dump(bad))
    result = cli("test", str(suite))
    assert "1 passed, 0 failed" in result.output, result.output
    assert "1 simulator error" in result.output
    assert (
        "SIM " in result.output or "SIMERR" in result.output or "simulator_error" in result.output
    )


def test_words_before_the_stop_token_still_reach_the_agent(
    cli, make_scenario, store_path: Path
) -> None:
    # tau2-bench#297: a simulator that confirms and stops in one message must not end the
    # conversation before the agent acts on the confirmation
    path = make_scenario(
        "confirm-and-stop",
        {
            "name": "confirm-and-stop",
            "sandbox": "retail",
            "input": "Refund ord_5531 please.",
            "script": [
                {"say": "Refund $40 of ord_5531 to your card?"},
                {
                    "tool_calls": [
                        {
                            "create_refund": {
                                "order_id": "ord_5531",
                                "amount_usd": 40,
                                "idempotency_key": "k1",
                            }
                        }
                    ]
                },
                {"say": "Done."},
                {"say": "Anything else?"},
            ],
            "user": {"model": "scripted", "script": ["Yes, do it. ###STOP###", "more"]},
            "expect": {"confirmed_before": ["create_refund"], "user_turns": 1},
        },
    )
    result = cli("run", path)
    assert result.exit_code == 0, result.output
    run, steps = load(store_path)
    assert run.status == "completed" and run.output == "Done."
    llm = [s for s in steps if s.kind == "llm"]
    assert llm[1].data["request"]["delta"][-1] == {"role": "user", "content": "Yes, do it."}
    assert len(llm) == 3, "the conversation ended when the agent next yielded"


def test_a_budget_halts_a_conversation(cli, make_scenario, store_path: Path) -> None:
    path = make_scenario(
        "budget-conv",
        {
            "name": "budget-conv",
            "sandbox": "retail",
            "input": "hi",
            "script": [{"say": "Yes?", "repeat": 20}],
            "user": ["a", "b", "c", "d", "e", "f"],
            "policy": {"budgets": {"max_steps": 5}},
        },
    )
    result = cli("run", path)
    assert result.exit_code == 1, result.output
    run, steps = load(store_path)
    assert run.status == "halted" and "max_steps=5" in run.reason
    assert [s.kind for s in steps[:5]] == ["llm", "user", "llm", "user", "llm"]


def test_pass_k_over_a_conversation_case(cli, tmp_path: Path, store_path: Path) -> None:
    result = cli("run", "scenarios/conversation-refund.yaml")
    assert result.exit_code == 0, result.output
    run, _ = load(store_path)
    suite = tmp_path / "suite"
    assert cli("export", run.id, "--suite", str(suite), "--name", "conv").exit_code == 0
    tested = cli("test", str(suite), "--repeat", "3", "--json")
    assert tested.exit_code == 0, tested.output
    report = json.loads(tested.stdout)
    assert report["summary"]["pass_k"] == 1.0 and report["summary"]["k"] == 3
    assert [r["passed"] for r in report["results"]] == [True, True, True]


def test_a_parked_conversation_resumes_without_repeating_turns(cli, store_path: Path) -> None:
    parked = cli("run", "scenarios/conversation-refund.yaml", "--detach")
    assert parked.exit_code == 0, parked.output
    run, _ = load(store_path)
    assert run.status == "awaiting_approval"
    store = TraceStore(store_path)
    try:
        (approval,) = store.approvals(status="pending", run_id=run.id)
    finally:
        store.close()
    assert cli("approve", approval.id).exit_code == 0
    resumed = cli("resume", run.id)
    assert resumed.exit_code == 0, resumed.output
    run, steps = load(store_path, run.id)
    assert run.status == "completed" and run.passed is True
    assert [s.data["text"] for s in steps if s.kind == "user"] == [
        "It's ord_5531.",
        "Yes please, refund it.",
        "No, that's all. Thanks!",
    ]


def test_the_readme_shows_the_conversation_as_it_runs(cli) -> None:
    import re

    result = cli("run", "scenarios/conversation-refund.yaml", env={"COLUMNS": "92"})
    assert result.exit_code == 0, result.output

    def steps(text: str) -> list[str]:
        lines = text.splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.startswith("   0 model"))
        end = next(i for i, ln in enumerate(lines) if ln.startswith("  12 final"))
        return [re.sub(r"ap_[0-9a-f]{8}", "ap_ID", ln.rstrip()) for ln in lines[start : end + 1]]

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("$ agentbox run scenarios/conversation-refund.yaml") :]
    assert steps(block) == steps(result.output)


def test_a_python_user_that_raises_is_a_simulator_error(
    cli, make_scenario, store_path: Path
) -> None:
    path = make_scenario(
        "python-user-broken",
        {
            "name": "python-user-broken",
            "sandbox": "retail",
            "input": "hello",
            "script": [{"say": "How can I help?"}],
            "user": {"entry": str(FIXTURES / "customer.py") + ":broken"},
        },
    )
    result = cli("run", path)
    assert result.exit_code == 1, result.output
    run, steps = load(store_path)
    assert run.status == "simulator_error"
    assert "RuntimeError: the customer script has a bug" in run.reason
    assert steps[-1].kind == "final" and steps[-1].status == "simulator_error"


def test_user_turns_are_events_of_the_exported_trace(cli, store_path: Path, tmp_path) -> None:
    assert cli("run", "scenarios/conversation-refund.yaml").exit_code == 0
    run, _ = load(store_path)
    out = tmp_path / "runs.jsonl"
    assert cli("export-traces", run.id, "--to", str(out)).exit_code == 0
    said = []
    for line in out.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for event in span.get("events", []):
                        if event["name"] == "agentbox.user_turn":
                            attrs = {a["key"]: a["value"] for a in event["attributes"]}
                            said.append(attrs["gen_ai.user.message"]["stringValue"])
    assert said == ["It's ord_5531.", "Yes please, refund it.", "No, that's all. Thanks!"]
