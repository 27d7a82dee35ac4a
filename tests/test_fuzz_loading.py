"""Issue 11: fuzzing scenario and case loading, and policy ``when:`` expressions.

Whatever bytes or structures a file holds, loading it either succeeds or raises
ScenarioError (the CLI then exits 2 and records nothing) -- never another exception, a
hang or a memory blow-up. Structures are generated; byte-level splices mutate the shipped
scenarios and suite cases. Bounded: a few hundred examples, no deadline (CI machines
vary), a few seconds in all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentbox.cli import app
from agentbox.config import load_settings
from agentbox.errors import ScenarioError
from agentbox.planning import plan_run
from agentbox.scenario import load_scenario
from agentbox.suites.case import load_case

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
CASES = sorted((ROOT / "suites").rglob("*.yaml"))


def fuzz(examples: int) -> Any:
    """Bounded hypothesis settings: ``examples`` cases, no deadline (CI machines vary)."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        derandomize=True,  # the same examples on every run: a failure reproduces
        database=None,
    )


CLI = typer.main.get_command(app)  # built once: typer builds it per invoke otherwise

FIELDS = [
    "name",
    "sandbox",
    "mode",
    "agent",
    "type",
    "model",
    "input",
    "script",
    "say",
    "tool_calls",
    "repeat",
    "policy",
    "rules",
    "when",
    "tier",
    "expect",
    "status",
    "approvals",
    "params",
    "budgets",
    "max_tokens",
    "state",
    "path",
    "equals",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["retail", "scripted", "execute", "shadow", "yellow", "approve", "x" * 9])
)
structures = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)
INTERESTING = [
    b"&a ",
    b"*a",
    b"[",
    b"]",
    b"{",
    b"}",
    b": ",
    b"- ",
    b"\n",
    b"\t",
    b"  ",
    b'"',
    b"'",
    b"\\",
    b"\\ud800",
    b"\x00",
    b"\x1b]52;c;eA==\x07",
    b"\xff\xfe",
    b"\xe2\x80",
    b"!!python/object/apply:os.system ['true']",
    b"!!binary aGk=",
    b"<<: *a",
    b"%YAML 1.1\n",
    b"---\n",
    b"...\n",
    b"? ",
    b"|\n",
    b">-\n",
    b"9" * 5000,
    b".nan",
    b"-.inf",
    b"2024-13-45",
    b"[" * 200,
    b"- " * 150,
]


def _load_or_refuse(path: Path, loader: Any) -> None:
    """``loader(path)`` succeeds or raises ScenarioError (anything else fails the test)."""
    with contextlib.suppress(ScenarioError):
        loader(path)


def _cli_refuses(path: Path, store: Path) -> None:
    """The CLI exits 2 on a file that does not load, and creates no store."""
    result = CliRunner().invoke(CLI, ["run", str(path), "--store", str(store)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    assert not store.exists()


@pytest.fixture(scope="module")
def work(tmp_path_factory: Any) -> Path:
    """One folder for every example of a test (each example overwrites its file)."""
    return Path(tmp_path_factory.mktemp("fuzz"))


@fuzz(100)
@given(data=structures)
def test_generated_structures_load_or_are_refused(work: Path, data: Any) -> None:
    tmp = work
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        load_scenario(path)
    except ScenarioError:
        _cli_refuses(path, tmp / "t.db")


@fuzz(60)
@given(
    data=st.dictionaries(st.sampled_from(FIELDS), structures, max_size=6),
    base=st.sampled_from(SCENARIOS),
)
def test_shipped_scenarios_with_generated_fields(
    work: Path, data: dict[str, Any], base: Path
) -> None:
    original = yaml.safe_load(base.read_text(encoding="utf-8"))
    path = work / base.name
    path.write_text(yaml.safe_dump({**original, **data}, allow_unicode=True), encoding="utf-8")
    _load_or_refuse(path, load_scenario)


splices = st.tuples(
    st.integers(min_value=0, max_value=10**6),  # where (modulo the file length)
    st.integers(min_value=0, max_value=40),  # how many bytes to remove there
    st.lists(st.sampled_from(INTERESTING) | st.binary(max_size=6), max_size=4),
)


def _splice(original: bytes, edits: list[tuple[int, int, list[bytes]]]) -> bytes:
    out = original
    for where, cut, inserts in edits:
        at = where % (len(out) + 1)
        out = out[:at] + b"".join(inserts) + out[at + cut :]
    return out


@fuzz(200)
@given(base=st.sampled_from(SCENARIOS), edits=st.lists(splices, min_size=1, max_size=3))
def test_byte_splices_of_shipped_scenarios(
    work: Path, base: Path, edits: list[tuple[int, int, list[bytes]]]
) -> None:
    tmp = work
    path = tmp / base.name
    path.write_bytes(_splice(base.read_bytes(), edits))
    try:
        load_scenario(path)
    except ScenarioError:
        _cli_refuses(path, tmp / "t.db")


@fuzz(80)
@given(base=st.sampled_from(CASES), edits=st.lists(splices, min_size=1, max_size=3))
def test_byte_splices_of_suite_cases(
    work: Path, base: Path, edits: list[tuple[int, int, list[bytes]]]
) -> None:
    path = work / base.name
    path.write_bytes(_splice(base.read_bytes(), edits))
    _load_or_refuse(path, load_case)


@fuzz(50)
@given(
    first=st.sampled_from(SCENARIOS),
    second=st.sampled_from(SCENARIOS + CASES),
    cut1=st.integers(min_value=0, max_value=10**6),
    cut2=st.integers(min_value=0, max_value=10**6),
)
def test_two_files_spliced_together(
    work: Path, first: Path, second: Path, cut1: int, cut2: int
) -> None:
    a, b = first.read_bytes(), second.read_bytes()
    path = work / "spliced.yaml"
    path.write_bytes(a[: cut1 % (len(a) + 1)] + b[cut2 % (len(b) + 1) :])
    _load_or_refuse(path, load_scenario)


# ---- policy `when:` expressions ----------------------------------------------------

TOKENS = [
    "amount_usd",
    "order_id",
    "reason",
    "idempotency_key",
    "x",
    "1",
    "0",
    "1e308",
    "10**10",
    "-1",
    "'a'",
    '"b"',
    "None",
    "True",
    ".nan",
    "float('nan')",
    " > ",
    " < ",
    " == ",
    " != ",
    " and ",
    " or ",
    "not ",
    " + ",
    " * ",
    " / ",
    " // ",
    " % ",
    " ** ",
    " in ",
    " if ",
    " else ",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "__class__",
    "__import__('os')",
    "lambda: 1",
    "len(",
    "str(",
    "-",
    "~",
    " ",
    "\\",
    "\x00",
    "\n",
    "'",
]
DEPTHS = st.integers(min_value=1, max_value=300) | st.sampled_from([1000, 3000, 5000, 20000, 10**5])
expressions = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=30).map("".join) | st.one_of(
    DEPTHS.map(lambda n: "(" * n + "1" + ")" * n),
    DEPTHS.map(lambda n: "not " * n + "x"),
    DEPTHS.map(lambda n: "-" * n + "1"),
    DEPTHS.map(lambda n: "[" * n + "]" * n),
    DEPTHS.map(lambda n: "amount_usd" + " + 1" * n + " > 5"),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def project() -> Any:
    return load_settings(ROOT)


@fuzz(100)
@given(when=expressions, tool=st.sampled_from(["create_refund", "*", "get_order"]))
def test_policy_expressions_load_or_are_refused(
    work: Path, project: Any, when: str, tool: str
) -> None:
    path = work / "when.yaml"
    scenario = {
        "name": "when",
        "sandbox": "retail",
        "agent": {"model": "scripted"},
        "input": "hi",
        "script": [{"say": "a"}],
        "policy": {"rules": [{"name": "r", "tool": tool, "when": when}]},
    }
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    try:
        plan_run(path, project)  # loads the scenario, the sandbox and the policy
    except ScenarioError as exc:
        assert "policy.rules[0].when" in exc.message or "invalid YAML" in exc.message
