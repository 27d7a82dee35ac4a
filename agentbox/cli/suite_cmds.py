"""Regression suites: export, test, report (filled in by the suites work)."""

from __future__ import annotations
