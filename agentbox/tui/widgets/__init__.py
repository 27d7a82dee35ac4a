"""Widgets of the TUI: the virtualized step timeline."""
