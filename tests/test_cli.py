"""The command line: help texts, schema, init, fast import, run listing and run ids."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from agentbox.cli import app

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_core_commands_exist() -> None:
    assert {"run", "runs", "show", "schema", "init"} <= set(COMMANDS)


def test_top_level_help(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0, result.output
    assert "Examples" in result.stdout
    for name in ("run", "runs", "show", "schema", "init"):
        assert name in result.stdout


def test_no_arguments_shows_help(cli) -> None:
    result = cli()
    assert "Usage" in result.output
    assert result.exit_code == 2  # click's no_args_is_help exits as a usage error


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_has_examples(cli, command: str) -> None:
    result = cli(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Examples" in result.stdout, f"`agentbox {command} --help` has no examples"
    assert f"agentbox {command}" in result.stdout


def test_schema_is_json_schema(cli) -> None:
    result = cli("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"name", "sandbox", "policy", "agent", "input", "mode", "expect"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) >= {"name", "sandbox", "input"}
    assert schema["additionalProperties"] is False, "typos must be flagged by editors too"
    assert schema["$schema"].startswith("https://json-schema.org/")


def test_init_then_run(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.chdir(project)
    result = cli("init", "demo")
    assert result.exit_code == 0, result.output
    for rel in (
        "sandboxes/demo/tools.py",
        "sandboxes/demo/seed/items.json",
        "scenarios/demo-example.yaml",
        ".agentbox.toml",
    ):
        assert (project / rel).is_file(), rel
    seed_before = (project / "sandboxes/demo/seed/items.json").read_bytes()

    ran = cli("run", "scenarios/demo-example.yaml")
    assert ran.exit_code == 0, ran.output
    assert "expectations passed" in ran.stdout
    assert (project / "sandboxes/demo/seed/items.json").read_bytes() == seed_before

    again = cli("init", "demo")
    assert again.exit_code == 2, "init never overwrites without --force"
    assert "already exists" in again.stderr
    assert cli("init", "demo", "--force").exit_code == 0


def test_init_rejects_bad_name(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("init", "../evil")
    assert result.exit_code == 2
    assert not (tmp_path.parent / "evil").exists()


def _imported_modules(code: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                mods.add(name)
    assert "agentbox.cli" in mods
    return mods


def _heavy(mods: set[str]) -> set[str]:
    return {m for m in mods if m.split(".")[0] in ("litellm", "textual", "openai")}


def test_import_cli_does_not_load_litellm_or_textual() -> None:
    mods = _imported_modules("import agentbox.cli")
    assert not _heavy(mods), sorted(_heavy(mods))[:10]


def test_help_and_scripted_run_do_not_load_litellm(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from agentbox.cli import main\n"
        "for argv in (['agentbox', '--help'],\n"
        "             ['agentbox', 'run', 'scenarios/refund-clean.yaml', '-q',"
        f" '--store', {str(tmp_path / 't.db')!r}]):\n"
        "    sys.argv = argv\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
    )
    mods = _imported_modules(code)
    assert "agentbox.runner" in mods, "the run really happened"
    assert not _heavy(mods), sorted(_heavy(mods))[:10]


def test_runs_json_lists_runs(cli) -> None:
    ids = []
    for name in ("refund-clean", "runaway-loop"):
        result = cli("run", f"scenarios/{name}.yaml", "--json")
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.stdout)["run_id"])
    listed = cli("runs", "--json")
    assert listed.exit_code == 0, listed.output
    runs = json.loads(listed.stdout)
    assert [r["run_id"] for r in runs] == ids[::-1], "newest first"
    assert [r["scenario"] for r in runs] == ["runaway-loop", "refund-clean"]
    assert [r["status"] for r in runs] == ["halted", "completed"]
    assert all(r["passed"] is True for r in runs)
    assert all(
        isinstance(r["started_at"], float) and r["ended_at"] >= r["started_at"] for r in runs
    )

    halted = json.loads(cli("runs", "--status", "halted", "--json").stdout)
    assert [r["run_id"] for r in halted] == [ids[1]]
    found = json.loads(cli("runs", "--search", "refund", "--json").stdout)
    assert [r["run_id"] for r in found] == [ids[0]]
    limited = json.loads(cli("runs", "-n", "1", "--json").stdout)
    assert [r["run_id"] for r in limited] == [ids[1]]


def test_runs_on_empty_store(cli) -> None:
    result = cli("runs")
    assert result.exit_code == 0
    assert "no runs" in result.stdout
    assert json.loads(cli("runs", "--json").stdout) == []


def test_show_accepts_id_prefix(cli) -> None:
    result = cli("run", "scenarios/refund-clean.yaml", "--json")
    run_id = json.loads(result.stdout)["run_id"]
    for ident in (run_id, run_id[:6], run_id[:4]):
        shown = cli("show", ident, env={"COLUMNS": "200"})
        assert shown.exit_code == 0, shown.output
        assert f"run {run_id}" in shown.stdout
        assert "create_refund" in shown.stdout
    step = cli("show", run_id[:6], "--step", "3")
    assert step.exit_code == 0, step.output
    data = json.loads(step.stdout)
    assert data["idx"] == 3 and data["run_id"] == run_id and data["name"] == "create_refund"


def test_show_unknown_step_is_exit_2(cli) -> None:
    run_id = json.loads(cli("run", "scenarios/refund-clean.yaml", "--json").stdout)["run_id"]
    result = cli("show", run_id, "--step", "999")
    assert result.exit_code == 2
    assert "no step 999" in result.stderr
    assert "hint:" in result.stderr


def test_unknown_run_id_is_exit_2_with_hint(cli) -> None:
    assert cli("run", "scenarios/refund-clean.yaml", "-q").exit_code == 0
    result = cli("show", "zzzz")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no run 'zzzz'" in result.stderr
    assert "hint: " in result.stderr and "agentbox runs" in result.stderr


def test_run_of_missing_file_is_exit_2(cli, store_path: Path) -> None:
    result = cli("run", "scenarios/does-not-exist.yaml")
    assert result.exit_code == 2
    assert "does-not-exist.yaml" in result.stderr
    assert not store_path.exists()


def test_store_env_var_is_used(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "env-store.db"
    monkeypatch.setenv("AGENTBOX_STORE", str(other))
    result = cli("run", "scenarios/refund-clean.yaml", "-q", "--store", str(other))
    assert result.exit_code == 0
    from typer.testing import CliRunner

    listed = CliRunner().invoke(app, ["runs", "--json"])  # no --store: falls back to the env var
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)) == 1


def test_runs_filters_say_what_matched(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("run", "scenarios/refund-clean.yaml", "-q").exit_code == 0
    assert "no runs match (of 1" in cli("runs", "--status", "halted").output
    assert "no runs match (of 1" in cli("runs", "--status", "awaiting").output  # shown word
    bad = cli("runs", "--status", "waiting")
    assert bad.exit_code == 2 and "awaiting" in bad.output
    assert cli("runs", "-n", "0").exit_code == 2


def test_a_closed_stdout_does_not_abandon_the_run(
    root: Path, tmp_path: Path, open_store: Any
) -> None:
    import subprocess
    import sys

    db = tmp_path / "t.db"
    cmd = (
        f"{sys.executable} -c 'from agentbox.cli import main; main()' run "
        f"scenarios/refund-clean.yaml --store {db} | head -1"
    )
    subprocess.run(cmd, shell=True, cwd=root, check=True, capture_output=True)
    run = open_store(db).list_runs()[0]
    assert run.status == "completed" and run.passed


def test_a_real_model_without_its_key_is_refused_before_the_run(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    result = cli("run", "scenarios/refund-clean.yaml", "--model", "openai/gpt-4o-mini")
    assert result.exit_code == 2 and "OPENAI_API_KEY" in result.output


def test_a_task_template_without_a_task_says_so(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("run", "sandboxes/tau_retail/task.yaml")
    assert result.exit_code == 2
    assert "--task" in result.output


def test_an_unwritable_store_is_a_clear_error(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("runs", "--store", "/proc/no-such-dir/t.db")
    assert result.exit_code == 2 and "cannot create the trace store folder" in result.output


def test_approve_without_a_passwd_entry_records_user_or_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import getpass

    from agentbox.approvals import user_name

    def no_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 1234")  # as in a bare container

    monkeypatch.setattr(getpass, "getuser", no_entry)
    monkeypatch.delenv("USER", raising=False)
    assert user_name() == "unknown" and user_name("tui") == "tui"
    monkeypatch.setenv("USER", "ann")
    assert user_name() == "ann"
