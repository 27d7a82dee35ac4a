"""The layering rules of DESIGN.md, checked: who may import what, who speaks SQL, who prints."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "agentbox"
SOURCES = sorted(PKG.rglob("*.py"))


def _modules_loaded(import_line: str) -> set[str]:
    code = f"import sys; {import_line}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_engine_imports_no_ui_and_no_litellm() -> None:
    loaded = _modules_loaded("import agentbox.runner, agentbox.lifecycle, agentbox.store")
    assert not loaded & {"typer", "textual", "rich", "litellm", "click"}


def test_cli_import_does_not_load_litellm_or_textual() -> None:
    loaded = _modules_loaded("import agentbox.cli")
    assert "litellm" not in loaded and "textual" not in loaded


def _calls(tree: ast.AST, name: str) -> list[int]:
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == name
    ]


def test_only_the_cli_and_tui_print() -> None:
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("cli", "tui"):
            continue
        lines = _calls(ast.parse(path.read_text()), "print")
        offenders += [f"{rel}:{n}" for n in lines]
    assert offenders == []


def test_only_the_store_speaks_sql() -> None:
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if (
                any(n.split(".")[0] in ("sqlite3", "sqlite_utils") for n in names)
                and str(rel) != "store.py"
                # a shadow run's source database, opened read-only; not the trace store
                and str(rel) != "sandbox/sources/sqlite.py"
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_litellm_is_imported_only_by_the_model_layer() -> None:
    offenders = []
    for path in SOURCES:
        rel = path.relative_to(PKG)
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            if any(n.split(".")[0] == "litellm" for n in names) and str(rel) != "models.py":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []
