"""Issue 11 item 3 (output part): every ``--json`` is strict JSON -- a NaN or infinity a
model or scenario put in a run is written as ``"NaN"``/``"Infinity"``, never bare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import CliHelper


def _strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"bare {name} in --json output")

    return json.loads(text, parse_constant=refuse)


def test_json_outputs_never_hold_bare_nan(cli: CliHelper, make_scenario: Any) -> None:
    scenario: Path = make_scenario(
        "nan",
        "name: nan\nsandbox: retail\nagent: {model: scripted}\ninput: hi\n"
        "script:\n"
        "  - tool_calls: [{get_order: {order_id: ord_5120, x: .nan, y: .inf, z: -.inf}}]\n"
        "  - say: done\n",
    )
    run = cli("run", scenario, "--json")
    run_id = _strict(run.stdout)["run_id"]
    shown = _strict(cli("show", run_id, "--json").stdout)
    (llm,) = [s for s in shown["steps"] if s["kind"] == "llm"][:1]
    args = llm["data"]["response"]["tool_calls"][0]["arguments"]
    assert (args["x"], args["y"], args["z"]) == ("NaN", "Infinity", "-Infinity")
    _strict(cli("show", run_id, "--step", "0", "--json").stdout)
    _strict(cli("runs", "--json").stdout)
    _strict(cli("report", run_id, "--json").stdout)
