"""Field docstrings cost nothing at import and still reach every place that shows them.

The models leave pydantic's ``use_attribute_docstrings`` off (it re-parses each module's
source while the classes are built); ``agentbox.field_docs`` reads the docstrings when a
schema or ``docs/trace-format.md`` is generated. These tests check that the import parses
no source, and that the output is byte for byte what the flag gave.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

import agentbox
from agentbox.cli import app
from agentbox.field_docs import DocstringJsonSchema, description

PACKAGE = Path(agentbox.__file__).parent
MODEL_MODULES = ["agentbox.scenario", "agentbox.defaults", "agentbox.config", "agentbox.events"]
MODEL_MODULES += ["agentbox.suites.case"]


def test_importing_the_models_parses_no_source() -> None:
    code = f"""
import pydantic._internal._docs_extraction as d, pydantic._internal._fields as f
calls = []
def spy(cls, use_inspect=False):
    calls.append(cls.__qualname__)
    return {{}}
d.extract_docstrings_from_cls = f.extract_docstrings_from_cls = spy
import importlib
for name in {MODEL_MODULES!r}:
    importlib.import_module(name)
print(calls)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _flagged_copy(module: str, tmp_path: Path) -> ModuleType:
    """``module`` loaded again under another name with ``use_attribute_docstrings=True``."""
    source = inspect.getsource(importlib.import_module(module))
    flagged = source.replace('ConfigDict(extra="forbid")', 'ConfigDict(extra="forbid", X)')
    flagged = flagged.replace('ConfigDict(extra="allow")', 'ConfigDict(extra="allow", X)')
    assert flagged != source, f"{module} has no model config to flag"
    flagged = flagged.replace(", X)", ", use_attribute_docstrings=True)")
    name = "flagged_" + module.replace(".", "_")
    path = tmp_path / f"{name}.py"
    path.write_text(flagged, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    copy = importlib.util.module_from_spec(spec)
    sys.modules[name] = copy
    try:
        spec.loader.exec_module(copy)
    except BaseException:
        del sys.modules[name]
        raise
    return copy


def _models(module: ModuleType) -> dict[str, type[BaseModel]]:
    return {
        name: obj
        for name, obj in vars(module).items()
        if isinstance(obj, type)
        and issubclass(obj, BaseModel)
        and obj.__module__ == module.__name__
        and not name.startswith("_")
    }


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_schemas_and_descriptions_match_the_pydantic_flag(module: str, tmp_path: Path) -> None:
    flagged = _flagged_copy(module, tmp_path)
    try:
        ours, theirs = _models(importlib.import_module(module)), _models(flagged)
        assert ours and ours.keys() == theirs.keys()
        for name, model in ours.items():
            # the copy's own classes carry pydantic's descriptions (the generator adds
            # nothing to them); models it imports from other modules get ours on both sides
            want = theirs[name].model_json_schema(schema_generator=DocstringJsonSchema)
            got = model.model_json_schema(schema_generator=DocstringJsonSchema)
            assert json.dumps(got) == json.dumps(want), name
            for field, info in theirs[name].model_fields.items():
                assert description(model, field) == info.description, f"{name}.{field}"
    finally:
        del sys.modules[flagged.__name__]


def _source_docstrings(path: Path) -> dict[str, dict[str, str]]:
    """``{class: {field: cleaned docstring}}`` read with ``ast`` from one module."""
    out: dict[str, dict[str, str]] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ClassDef):
            continue
        docs = out.setdefault(node.name, {})
        for stmt, after in zip(node.body, node.body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return out


def test_agentbox_schema_shows_every_documented_scenario_field() -> None:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    docs = _source_docstrings(PACKAGE / "scenario.py") | _source_docstrings(PACKAGE / "defaults.py")
    classes = {"Scenario": schema, **schema["$defs"]}
    checked = 0
    for cls, props in ((c, s.get("properties", {})) for c, s in classes.items()):
        for field, doc in docs.get(cls, {}).items():
            if field in props:
                assert props[field].get("description") == doc, f"{cls}.{field}"
                checked += 1
    assert checked > 100  # scenario.py documents well over a hundred fields
    assert schema["properties"]["name"]["description"] == docs["Scenario"]["name"]
