"""Issue 11 item 1: control characters from models and tools never reach the terminal raw.

A scripted model says and thinks text holding an OSC 52 clipboard write, an OSC 0 window
title and a clear-screen CSI; a tool result, a tool name and a run's scenario name carry
them too. ``run``, ``show`` (piped and on a pty), ``runs``, ``approvals`` and the TUI must
show them made visible (``␛``), while ``--json`` keeps the exact text.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentbox.safe_text import visible

ROOT = Path(__file__).resolve().parent.parent

CLIPBOARD = "\x1b]52;c;aGFja2Vk\x1b\\"
TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
C1_CSI = "\x9b2J"
HOSTILE = CLIPBOARD + TITLE + CLEAR + C1_CSI
RAW = [b"\x1b]52", b"\x1b]0;", b"\x1b[2J", b"\x07", "\x9b".encode()]

SCENARIO = {
    "name": "escapes" + CLEAR,
    "sandbox": str(ROOT / "sandboxes" / "retail"),
    "agent": {"type": "llm", "model": "scripted"},
    "input": "hi " + TITLE,
    "script": [
        {
            "reasoning": "thinking " + CLEAR,
            "say": "looking " + CLIPBOARD,
            "tool_calls": [{"get_order": {"order_id": "ord_" + HOSTILE}}],
        },
        {"tool_calls": [{"create_refund" + TITLE: {"order_id": "x"}}]},
        {"say": "bye " + HOSTILE},
    ],
    "policy": {"rules": [{"name": "hold" + CLEAR, "tool": "get_order", "reason": "why" + TITLE}]},
    "approvals": "approve",
}


def test_visible_replaces_every_control_character() -> None:
    text = "".join(chr(c) for c in range(0x00, 0xA0)) + "ok ✓ é"
    shown = visible(text)
    assert not any(ord(ch) < 0x20 and ch not in "\n\t" for ch in shown)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in shown)
    assert "\n" in shown and "\t" in shown and shown.endswith("ok ✓ é")
    assert visible("\x1b]52;c;x\x07") == "␛]52;c;x␇"
    assert visible("\x9b") == "\\x9b"


def _scenario(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "escapes.yaml"
    path.write_text(yaml.safe_dump(SCENARIO, allow_unicode=False), encoding="utf-8")
    return path


def _assert_safe(out: bytes | str) -> None:
    data = out.encode() if isinstance(out, str) else out
    for seq in RAW:
        assert seq not in data, f"{seq!r} reached the terminal"


def _env(store: Path) -> dict[str, str]:
    return {**os.environ, "AGENTBOX_STORE": str(store), "TERM": "xterm-256color", "COLUMNS": "100"}


def _agentbox(*args: str, store: Path, tty: bool = False) -> tuple[int, bytes]:
    cmd = [_exe(), *args]
    if not tty:
        proc = subprocess.run(cmd, capture_output=True, env=_env(store), cwd=ROOT, timeout=120)
        return proc.returncode, proc.stdout + proc.stderr
    leader, follower = pty.openpty()
    proc2 = subprocess.Popen(
        cmd, stdin=follower, stdout=follower, stderr=follower, env=_env(store), cwd=ROOT
    )
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return proc2.wait(timeout=60), b"".join(chunks)


def _exe() -> str:
    return str(Path(sys.executable).with_name("agentbox"))


@pytest.fixture()
def stored(tmp_path: Path) -> tuple[Path, str]:
    """The hostile scenario run once (through the CLI, piped); its store and run id."""
    store = tmp_path / "t.db"
    _, out = _agentbox("run", str(_scenario(tmp_path)), "--json", store=store)
    data = json.loads(out)
    assert data["output"].startswith("bye \x1b]52")  # stored exactly, JSON-escaped on output
    assert b"\\u001b" in out and b"\x1b" not in out
    return store, data["run_id"]


def test_run_and_show_piped_escape_everything(tmp_path: Path) -> None:
    store = tmp_path / "t.db"
    code, out = _agentbox("run", str(_scenario(tmp_path)), store=store)
    _assert_safe(out)
    text = out.decode()
    assert "␛]52;c;aGFja2Vk␛\\" in text and "␛]0;pwned" in text  # visible, not dropped
    run_id = text.split("run ", 1)[1].split()[0]
    for args in (["show", run_id], ["runs"], ["approvals", "--all"], ["show", run_id, "--json"]):
        code, out = _agentbox(*args, store=store)
        assert code == 0, out
        _assert_safe(out)


def test_show_on_a_pty_escapes_everything(stored: tuple[Path, str]) -> None:
    store, run_id = stored
    for args in (["show", run_id], ["runs"], ["approvals", "--all"]):
        code, out = _agentbox(*args, store=store, tty=True)
        assert code == 0, out
        _assert_safe(out)
        assert b"\x1b[" in out  # it is a terminal: rich's own colours are still there
    code, out = _agentbox("show", run_id, store=store, tty=True)
    assert "␛]52".encode() in out and "␛[2J".encode() in out


def test_run_on_a_pty_escapes_everything(tmp_path: Path) -> None:
    _, out = _agentbox("run", str(_scenario(tmp_path)), store=tmp_path / "t.db", tty=True)
    _assert_safe(out)
    assert "␛]0;pwned".encode() in out


def test_approval_prompt_escapes(tmp_path: Path) -> None:
    data = dict(SCENARIO, approvals="prompt")
    import yaml

    path = tmp_path / "prompt.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    store = tmp_path / "t.db"
    cmd = [_exe(), "run", str(path)]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        cmd, stdin=follower, stdout=follower, stderr=follower, env=_env(store), cwd=ROOT
    )
    os.close(follower)
    chunks: list[bytes] = []
    answered = 0
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        if b"".join(chunks).count(b"approve?") > answered:
            os.write(leader, b"y\n")
            answered += 1
    os.close(leader)
    proc.wait(timeout=60)
    out = b"".join(chunks)
    assert b"approval needed" in out
    _assert_safe(out)
    assert "hold␛[2J".encode() in out and "why␛]0;pwned".encode() in out


@pytest.mark.anyio
async def test_tui_panes_timeline_and_lists_escape(stored: tuple[Path, str]) -> None:
    from agentbox.config import load_settings
    from agentbox.store import TraceStore
    from agentbox.tui.app import AgentboxApp
    from agentbox.tui.screens.run import RunScreen
    from agentbox.tui.widgets.text_pane import TextPane
    from agentbox.tui.widgets.timeline import Timeline

    store_path, run_id = stored
    store = TraceStore(store_path)
    app = AgentboxApp(store, load_settings(ROOT))
    seen: list[str] = []
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            seen.append(_screen(app))
            await pilot.press("enter")
            for _ in range(100):
                if isinstance(app.screen, RunScreen):
                    break
                await pilot.pause(0.05)
            assert isinstance(app.screen, RunScreen)
            timeline = app.screen.query_one(Timeline)
            for index in range(store.step_count(run_id)):
                timeline.cursor = index
                await pilot.pause()
                for name in ("reasoning", "action", "state"):
                    seen.append(app.screen.query_one(f"#{name}", TextPane).plain)
                seen.append(_screen(app))
            seen.append(str(app.screen.title))
    finally:
        store.close()
    text = "\n".join(seen)
    _assert_safe(text)
    assert "␛]52;c;aGFja2Vk" in text and "␛[2J" in text and "\\x9b2J" in text


def _screen(app: Any) -> str:
    """Every character the app would draw (the strips of the composed screen)."""
    strips = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=120, height=40, record=True)
    console.print(strips)
    return console.export_text()


def test_json_output_keeps_the_exact_text(stored: tuple[Path, str]) -> None:
    store, run_id = stored
    _, out = _agentbox("show", run_id, "--json", store=store)
    data = json.loads(out)
    says = [s["data"]["response"]["text"] for s in data["steps"] if s["kind"] == "llm"]
    assert "looking " + CLIPBOARD in says
    _assert_safe(out)


def test_rich_markup_in_names_and_text_is_shown_literally(tmp_path: Path) -> None:
    """``[/]`` in a name, rule or result is text, not a rich tag (a MarkupError traceback)."""
    import yaml

    tag = "[/][bold]x"
    data = {
        "name": "markup" + tag,
        "sandbox": str(ROOT / "sandboxes" / "retail"),
        "agent": {"model": "scripted"},
        "input": tag,
        "script": [
            {"say": tag, "tool_calls": [{"get_order" + tag: {"order_id": tag}}]},
            {"tool_calls": [{"get_order": {"order_id": tag}}]},
        ],
        "policy": {"rules": [{"name": "r" + tag, "tool": "get_order", "reason": tag}]},
        "approvals": "deny",
    }
    path = tmp_path / "markup.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    store = tmp_path / "t.db"
    code, out = _agentbox("run", str(path), store=store)
    assert code == 0 and b"Traceback" not in out, out.decode()
    assert b"markup[/][bold]x" in out
    run_id = out.decode().split("run ", 1)[1].split()[0]
    for args in (
        ["show", run_id],
        ["runs"],
        ["approvals", "--all"],
        ["report", run_id],
        ["diff", run_id, run_id],
    ):
        code, out = _agentbox(*args, store=store)
        assert code == 0 and b"Traceback" not in out, (args, out.decode())


def test_a_lone_surrogate_in_a_step_is_shown_not_a_crash(tmp_path: Path) -> None:
    """A model can send JSON "\\ud800"; no terminal can encode it, so it is shown escaped."""
    import sqlite3

    store = tmp_path / "t.db"
    _, out = _agentbox("run", str(ROOT / "scenarios" / "refund-clean.yaml"), "--json", store=store)
    run_id = json.loads(out)["run_id"]
    conn = sqlite3.connect(store)
    with conn:
        (data,) = conn.execute(
            "SELECT data FROM steps WHERE run_id=? AND idx=0", (run_id,)
        ).fetchone()
        step = json.loads(data)
        step["response"]["reasoning"] = "half a pair: \ud800 here"
        conn.execute("UPDATE steps SET data=? WHERE run_id=? AND idx=0", (json.dumps(step), run_id))
    conn.close()
    for tty in (False, True):
        code, out = _agentbox("show", run_id, store=store, tty=tty)
        assert code == 0 and b"Traceback" not in out, out.decode(errors="replace")
        assert b"half a pair: \\ud800 here" in out
