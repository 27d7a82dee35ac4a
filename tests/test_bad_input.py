"""Issue 11 items 9 and 13: bad input is a clear one-line error (exit 2), never a
traceback, and hostile YAML is refused quickly instead of eating the machine.

Each case is reproduced through the public surface (the CLI in-process, a subprocess
where the shell matters) and checked for exit 2, a message naming the problem, and no
run recorded in the store.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentbox.store import TraceStore
from tests.conftest import CliHelper
from tests.test_litellm import FakeOpenAI, fake_openai  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parent.parent
HEAD = b"name: bad\nsandbox: retail\nagent: {model: scripted}\n"
OK_TAIL = b"input: hi\nscript: [{say: hello}]\n"

LAUGHS = b"".join(
    [b'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    + [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n".encode() for i in range(1, 9)]
)

# (id, file bytes, words the error must contain, line it must name or None)
BAD_FILES: list[tuple[str, bytes, list[str], int | None]] = [
    ("non-utf8", HEAD + b"input: caf\xe9\n", ["not UTF-8"], 4),
    ("raw-escape", HEAD + b"input: a\x1b[2Jb\n", ["U+001B", "not allowed"], 4),
    ("raw-nul", HEAD + b"input: a\x00b\n", ["not allowed"], 4),
    ("raw-c1", HEAD + "input: a\x9bb\n".encode(), ["U+009B", "not allowed"], 4),
    ("lone-surrogate", HEAD + b'input: "\\ud800"\n', ["invalid YAML"], 4),
    ("lone-surrogate-pair-half", HEAD + b'input: "x\\udfffy"\n', ["invalid YAML"], 4),
    (
        "flow-nesting-3000",
        HEAD + OK_TAIL + b"description: " + b"[" * 3000 + b"]" * 3000,
        ["nesting"],
        6,
    ),
    (
        "block-nesting-3000",
        HEAD + OK_TAIL + b"description:\n" + b"- " * 3000 + b"x\n",
        ["nested deeper"],
        7,
    ),
    (
        "int-5000-digits",
        HEAD + OK_TAIL + b"expect: {max_tokens: " + b"9" * 5000 + b"}\n",
        ["4000 digits"],
        6,
    ),
    (
        "huge-repeat",
        HEAD + b"input: hi\nscript: [{say: a, repeat: 100000000000000}]\n",
        ["repeat", "10000"],
        5,
    ),
    ("billion-laughs", HEAD + OK_TAIL + LAUGHS, ["aliases expand"], None),
    ("recursive-alias", HEAD + OK_TAIL + b"x: &x [1, *x]\n", ["contains it"], 6),
    (
        "stream-param",
        b"name: bad\nsandbox: retail\nagent:\n  model: openai/gpt-4o-mini\n  params: {stream: true}\n"
        + OK_TAIL,
        ["stream"],
        5,
    ),
    ("bad-date", HEAD + OK_TAIL + b"description: 2024-13-45\n", ["month"], None),
]


def _runs(store_path: Path) -> list[Any]:
    if not store_path.exists():
        return []
    store = TraceStore(store_path)
    try:
        return store.list_runs(limit=None)
    finally:
        store.close()


def _assert_clear(result: Any, words: list[str]) -> None:
    assert result.exit_code == 2, result.output
    err = result.stderr
    assert err.startswith("error: "), err
    assert "Traceback" not in result.output
    for word in words:
        assert word in err, (word, err)


@pytest.mark.parametrize(
    ("data", "words", "line"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_bad_scenario_files_exit_2_with_file_and_line(
    cli: CliHelper,
    tmp_path: Path,
    store_path: Path,
    data: bytes,
    words: list[str],
    line: int | None,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    result = cli("run", path)
    _assert_clear(result, words)
    where = f"{path}:{line}:" if line else f"{path}"
    assert where in result.stderr
    assert _runs(store_path) == []


@pytest.mark.parametrize(
    ("data", "words", "line"),
    [c[1:] for c in BAD_FILES if c[0] not in ("stream-param", "huge-repeat")],
    ids=[c[0] for c in BAD_FILES if c[0] not in ("stream-param", "huge-repeat")],
)
def test_bad_case_files_fail_the_case_with_file_and_line(
    cli: CliHelper,
    tmp_path: Path,
    store_path: Path,
    data: bytes,
    words: list[str],
    line: int | None,
) -> None:
    case = (ROOT / "suites" / "retail-regressions" / "refund-denied.yaml").read_bytes()
    path = tmp_path / "case.yaml"
    # the hostile part goes into an otherwise valid case file
    path.write_bytes(_splice(case, data))
    result = cli("test", path, "--json")
    assert result.exit_code == 2, result.output
    (res,) = json.loads(result.stdout)["results"]
    assert res["passed"] is False and res["run_id"] is None
    for word in words:
        assert word in res["reason"], (word, res["reason"])
    assert _runs(store_path) == []


def _splice(case: bytes, data: bytes) -> bytes:
    """The bad file's last lines appended to a valid case (as a top-level key's value),
    or the whole bad bytes when they are about the encoding."""
    tail = data[len(HEAD) :]
    if tail.startswith(OK_TAIL):
        tail = tail[len(OK_TAIL) :]
    key, _, value = tail.partition(b":")
    return case.replace(
        b"\ncase: ", b"\n" + b"zz" + key.strip(b"\n") + b":" + value.rstrip(b"\n") + b"\ncase: ", 1
    )


def test_billion_laughs_is_refused_quickly(cli: CliHelper, tmp_path: Path) -> None:
    import resource

    path = tmp_path / "lol.yaml"
    path.write_bytes(HEAD + OK_TAIL + LAUGHS)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = cli("run", path)
    _assert_clear(result, ["aliases expand to more than 100,000 nodes"])
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100, f"loading grew the process by {grown_mb:.0f} MB"


def test_small_aliases_still_load(cli: CliHelper, tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_bytes(
        b"name: alias\nsandbox: retail\nagent: {model: scripted}\ninput: hi\n"
        b"script:\n  - &turn {say: hello}\n  - *turn\n"
    )
    assert cli("run", path).exit_code == 0


def test_junit_on_a_folder_or_under_a_file(
    cli: CliHelper, tmp_path: Path, store_path: Path
) -> None:
    case = ROOT / "suites" / "retail-regressions" / "refund-denied.yaml"
    folder = tmp_path / "out"
    folder.mkdir()
    _assert_clear(cli("test", case, "--junit", folder), ["is a folder"])
    file = tmp_path / "afile"
    file.write_text("x")
    _assert_clear(cli("test", case, "--junit", file / "junit.xml"), ["is a file"])
    assert _runs(store_path) == []  # refused before the suite ran


def test_export_into_a_file(cli: CliHelper, tmp_path: Path) -> None:
    run_id = json.loads(cli("run", ROOT / "scenarios" / "refund-clean.yaml", "--json").stdout)[
        "run_id"
    ]
    file = tmp_path / "suite"
    file.write_text("x")
    _assert_clear(cli("export", run_id, "--suite", file), ["is a file, not a folder"])
    assert file.read_text() == "x"


def test_init_in_a_folder_it_cannot_write(
    cli: CliHelper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    monkeypatch.chdir(folder)
    with _immutable(folder):
        result = cli("init", "demo")
    _assert_clear(result, ["cannot write"])


def test_schema_to_a_full_device() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    exe = str(Path(sys.executable).with_name("agentbox"))
    proc = subprocess.run(
        f"{exe} schema > /dev/full", shell=True, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: cannot write the output: No space left on device")
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr


def test_missing_agent_entry_module(cli: CliHelper, tmp_path: Path, store_path: Path) -> None:
    path = tmp_path / "entry.yaml"
    path.write_text(
        "name: entry\nsandbox: retail\nagent: {type: python, entry: 'no_such_agent_mod:run'}\n"
        "input: hi\n",
        encoding="utf-8",
    )
    _assert_clear(cli("run", path), [f"{path}:3:", "agent.entry", "no_such_agent_mod"])
    assert _runs(store_path) == []


def test_missing_agent_entry_file(cli: CliHelper, tmp_path: Path, store_path: Path) -> None:
    path = tmp_path / "entry.yaml"
    path.write_text(
        "name: entry\nsandbox: retail\nagent: {type: python, entry: 'agents/nope.py:run'}\n"
        "input: hi\n",
        encoding="utf-8",
    )
    _assert_clear(cli("run", path), [f"{path}:3:", "agent.entry", "file agents/nope.py not found"])
    assert _runs(store_path) == []


def test_unknown_litellm_provider(tmp_path: Path, store_path: Path) -> None:
    path = tmp_path / "provider.yaml"
    path.write_text(
        "name: provider\nsandbox: retail\nagent: {model: nosuchprovider/some-model, "
        "params: {api_key: x, api_base: 'http://127.0.0.1:9/v1'}}\ninput: hi\n",
        encoding="utf-8",
    )
    code, _, err = _subprocess("run", str(path), "--store", str(store_path))
    assert code == 2 and err.startswith("error: "), err
    assert "nosuchprovider/some-model" in err and "no provider" in err and "Traceback" not in err
    assert _runs(store_path) == []


def _subprocess(*args: str) -> tuple[int, str, str]:
    """``agentbox ARGS`` in a child process: litellm is imported there, never here (it
    leaves event loops and sockets behind that later tests would trip over)."""
    exe = str(Path(sys.executable).with_name("agentbox"))
    proc = subprocess.run([exe, *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


# ---- a model server that answers nonsense --------------------------------------------


class Nonsense(FakeOpenAI):
    def __init__(self, mutate: Any) -> None:
        super().__init__()
        self.mutate = mutate

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        out = super().answer(body)
        self.mutate(out)
        return out


def _no_choices(out: dict[str, Any]) -> None:
    out["choices"] = []


def _negative_usage(out: dict[str, Any]) -> None:
    out["usage"] = {"prompt_tokens": -1000000, "completion_tokens": 5, "total_tokens": -999995}


@pytest.fixture()
def nonsense(request: pytest.FixtureRequest) -> Iterator[Nonsense]:
    request.getfixturevalue("fake_openai")  # its environment: no proxies, local cost map
    fake = Nonsense(request.param)
    try:
        yield fake
    finally:
        fake.close()


@pytest.mark.parametrize(
    ("nonsense", "words"),
    [(_no_choices, "no choices"), (_negative_usage, "invalid usage: prompt_tokens=-1000000")],
    indirect=["nonsense"],
    ids=["choices-empty", "negative-usage"],
)
def test_a_model_answering_nonsense_fails_the_run_clearly(
    make_scenario: Any, nonsense: Nonsense, store_path: Path, words: str
) -> None:
    path = make_scenario(
        "nonsense",
        {
            "name": "nonsense",
            "sandbox": "retail",
            "agent": {
                "model": "openai/gpt-4o-mini",
                "params": {"api_base": f"http://127.0.0.1:{nonsense.port}/v1", "api_key": "t"},
            },
            "input": "hi",
        },
    )
    code, out, err = _subprocess("run", str(path), "--json", "--store", str(store_path))
    assert code == 1, err
    data = json.loads(out)
    assert data["status"] == "failed" and words in data["reason"]
    assert "Traceback" not in data["reason"]
    (run,) = _runs(store_path)
    assert run.counters["input_tokens"] == 0  # nothing counted from a nonsense answer


# ---- the store ---------------------------------------------------------------------


class _immutable:
    """``chattr +i`` on paths for the block (root ignores permission bits)."""

    def __init__(self, *paths: Path) -> None:
        self.paths = [str(p) for p in paths]

    def __enter__(self) -> None:
        if shutil.which("chattr") is None:
            pytest.skip("no chattr")
        proc = subprocess.run(["chattr", "+i", *self.paths], capture_output=True)
        if proc.returncode != 0:
            pytest.skip(f"chattr +i not permitted here: {proc.stderr.decode().strip()}")

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["chattr", "-i", *self.paths], check=False)


@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file-and-folder"])
def test_read_only_store_reads_and_says_why_it_cannot_write(
    cli: CliHelper, tmp_path: Path, folder_too: bool
) -> None:
    folder = tmp_path / "store"
    db = folder / "t.db"
    first = cli("run", ROOT / "scenarios" / "refund-clean.yaml", "--json", "--store", db)
    run_id = json.loads(first.stdout)["run_id"]
    with _immutable(db, *([folder] if folder_too else [])):
        listed = cli("runs", "--json", "--store", db)
        assert listed.exit_code == 0, listed.output
        assert [r["run_id"] for r in json.loads(listed.stdout)] == [run_id]
        assert cli("show", run_id, "--store", db).exit_code == 0
        result = cli("run", ROOT / "scenarios" / "refund-clean.yaml", "--store", db)
        _assert_clear(result, [str(db), "read-only", "nothing can be recorded"])
    assert len(json.loads(cli("runs", "--json", "--store", db).stdout)) == 1


@pytest.mark.parametrize(
    ("table", "column", "command"),
    [
        ("runs", "counters", ["runs"]),
        ("runs", "scenario_json", ["show", "RUN"]),
        ("steps", "data", ["show", "RUN"]),
        ("steps", "patch", ["show", "RUN", "--step", "7", "--state"]),
    ],
)
def test_corrupt_json_in_a_row(
    cli: CliHelper, store_path: Path, table: str, column: str, command: list[str]
) -> None:
    run_id = json.loads(cli("run", ROOT / "scenarios" / "refund-clean.yaml", "--json").stdout)[
        "run_id"
    ]
    conn = sqlite3.connect(store_path)
    key = "id" if table == "runs" else "run_id"
    extra = "" if column != "patch" else " AND patch IS NOT NULL"
    with conn:
        conn.execute(f"UPDATE {table} SET {column}='{{not json' WHERE {key}=?{extra}", (run_id,))
    conn.close()
    result = cli(*[run_id if a == "RUN" else a for a in command])
    _assert_clear(result, [str(store_path), f"column {column} is not valid JSON", "corrupt"])


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (HEAD + b"input: hi\n\tscript: []\n", 5),  # a tab
        (HEAD + b"input: hi\n  script: [{say: hello}]\n", 5),  # bad indent
    ],
    ids=["tab", "bad-indent"],
)
def test_a_yaml_syntax_error_gets_a_yaml_hint_not_the_schema_one(
    cli: CliHelper, tmp_path: Path, data: bytes, line: int
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    result = cli("run", path)
    _assert_clear(result, ["invalid YAML", f"{path}:{line}:"])
    assert (
        f"hint: check the indentation (spaces, not tabs), colons and quotes near line {line}"
        in (result.stderr)
    )
    assert "fix the fields above" not in result.stderr


def test_a_field_error_keeps_the_schema_hint(cli: CliHelper, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(HEAD + OK_TAIL + b"colour: red\n")
    result = cli("run", path)
    _assert_clear(result, ["colour", "hint: fix the fields above; `agentbox schema`"])
