"""``agentbox init``: write a minimal sandbox and a scenario that runs offline."""

from __future__ import annotations

from pathlib import Path

from agentbox.config import CONFIG_NAME, Settings
from agentbox.errors import AgentboxError

_TOOLS = '''"""Tools of the {name} sandbox. Each @tool function gets the run's state first."""

from agentbox import State, ToolError, tool


@tool
def get_item(state: State, item_id: str) -> dict:
    """Look up one item.

    Args:
        item_id: The item id, e.g. ``item_1``.
    """
    item = state.get("items", item_id)
    if item is None:
        raise ToolError(f"item {{item_id}} not found")
    return item


@tool(effect="write")
def set_price(state: State, item_id: str, price_usd: float) -> dict:
    """Change an item's price.

    Args:
        item_id: The item id.
        price_usd: New price in USD.
    """
    try:
        with state.edit("items", item_id) as item:
            item["price_usd"] = price_usd
    except KeyError:
        raise ToolError(f"item {{item_id}} not found") from None
    return state.get("items", item_id)
'''

_SEED = """{
  "item_1": {"id": "item_1", "name": "Desk lamp", "price_usd": 39.0},
  "item_2": {"id": "item_2", "name": "Office chair", "price_usd": 249.0}
}
"""

_SCENARIO = """name: {name}-example
description: Reprice an item; big prices need approval.
sandbox: {name}
agent:
  type: llm
  model: scripted
input: "Set the desk lamp (item_1) to $35."
script:
  - reasoning: Check the item first.
    tool_calls: [{{get_item: {{item_id: item_1}}}}]
  - tool_calls: [{{set_price: {{item_id: item_1, price_usd: 35}}}}]
  - say: "item_1 now costs $35."
policy:
  rules:
    - {{name: big-price, tool: set_price, when: "price_usd > 1000", tier: yellow}}
expect:
  status: completed
  state: [{{path: items.item_1.price_usd, equals: 35}}]
"""

_CONFIG = """# agentbox project settings (CLI flags > scenario > this file > defaults)
store = ".agentbox/traces.db"
sandboxes = "sandboxes"
scenarios = "scenarios"
default_model = "scripted"
"""


def scaffold(root: Path, name: str, settings: Settings, *, force: bool = False) -> list[Path]:
    """Write the sandbox, seed, scenario and config. Returns the paths written.

    Raises:
        AgentboxError: a file exists and ``force`` is False, or ``name`` is not a plain name.
    """
    if not name.replace("_", "").replace("-", "").isalnum():
        raise AgentboxError(f"sandbox name {name!r} must be letters, digits, - or _")
    files = {
        settings.sandboxes_path / name / "tools.py": _TOOLS.format(name=name),
        settings.sandboxes_path / name / "seed" / "items.json": _SEED,
        settings.scenarios_path / f"{name}-example.yaml": _SCENARIO.format(name=name),
    }
    if not (root / CONFIG_NAME).exists():
        files[root / CONFIG_NAME] = _CONFIG
    existing = [p for p in files if p.exists() and p.name != CONFIG_NAME]
    if existing and not force:
        raise AgentboxError(f"{existing[0]} already exists", "pass --force to overwrite")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
