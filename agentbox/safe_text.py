"""Make untrusted text safe to show on a terminal (CLI and TUI both use it).

Model output, tool results, arguments, names and reasons come from code and models we
do not trust. Written raw, an ``ESC]52;c;...`` sequence writes the user's clipboard, an
``ESC]0;...`` retitles the window and ``ESC[2J`` clears the screen. :func:`visible`
renders every control character as a visible stand-in instead; it is applied where text
is drawn (the CLI console, the TUI panes), never to what is stored, and ``--json`` output
needs none of it (JSON escapes control characters itself).
"""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _stand_in(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Control Pictures: ESC -> ␛, BEL -> ␇, CR -> ␍
    if code == 0x7F:
        return "\u2421"  # ␡
    if code >= 0xD800:  # a lone surrogate (JSON "\ud800"): no terminal can encode it
        return f"\\u{code:04x}"
    return f"\\x{code:02x}"  # C1 (CSI 0x9b, OSC 0x9d...): no picture, show the escape


def visible(text: str) -> str:
    """``text`` with every control character except newline and tab made visible.

    C0 characters and DEL become their Control Pictures (``\\x1b`` -> ``␛``); C1
    characters (U+0080..U+009F, which some terminals obey like ESC sequences) become the
    literal text ``\\x9b``, and lone surrogates (which cannot be encoded for output) the
    text ``\\ud800``. Everything else, including all printable Unicode, is kept.
    """
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_stand_in, text)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`visible` would replace."""
    return _CONTROL.search(text) is not None
