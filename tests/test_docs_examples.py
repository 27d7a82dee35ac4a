"""The code examples of the documentation run, as written.

Every ```python block of a page runs in order in one namespace, from a fresh folder
holding this repository's ``scenarios/`` and ``sandboxes/`` (symlinked) and its
``.agentbox.toml``, so runs land in that folder's store, never in the repository's.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["python-api.md", "sandboxes.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: str) -> list[tuple[int, str]]:
    """``(line, code)`` of each python block of ``docs/page``."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_of_the_page_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("scenarios", "sandboxes"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    shutil.copy(ROOT / ".agentbox.toml", tmp_path / ".agentbox.toml")
    monkeypatch.chdir(tmp_path)
    found = blocks(page)
    assert found, f"docs/{page} has no python examples"
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    for line, code in found:
        # padded so a traceback names the page's own line numbers
        compiled = compile("\n" * (line - 1) + code, f"docs/{page}", "exec")
        exec(compiled, namespace)
    assert not (ROOT / "docs" / ".agentbox").exists()
