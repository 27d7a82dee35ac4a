"""Screens of the TUI: runs list, run view, modal dialogs."""
