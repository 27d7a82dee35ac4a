"""The terminal UI (Textual): browse runs, step through one, approve held calls, fork.

Boundary: this package is the only one that imports Textual, and it is imported only by
``agentbox tui`` (``agentbox.cli.tui_cmd``). It reads the trace store directly and calls
the engine (resume, fork, export) only from thread workers that post messages back.

Layout:

- ``steps``, ``present``, ``actions``: headless helpers (no Textual): paged step access,
  how a step is summarised and detailed, approval/fork/export calls.
- ``widgets/``: the virtualized step timeline and the step detail panes.
- ``screens/``: the runs list, the run view and the modal dialogs.
- ``app.py`` + ``app.tcss``: the application.
"""
