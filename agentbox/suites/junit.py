"""JUnit XML for CI systems: one ``testsuite`` per folder, one ``testcase`` per run.

Shape (what Jenkins, GitLab and GitHub test reporters read)::

    <testsuites name="agentbox" tests= failures= errors= time=>
      <testsuite name="suites/retail-regressions" tests= failures= errors= time=>
        <testcase classname="suites/retail-regressions" name="refund-over-limit" file= time=>
          <failure message="holds: expected 1, got 0" type="expectation">details</failure>
          <system-out>run 3fa2... (status completed)</system-out>
        </testcase>

A case that could not start (bad file, unknown sandbox) is an ``error``; one that ran and
broke an expectation or missed its cassette is a ``failure``; one whose simulated user
failed (``simulator_error``) is ``skipped``: not the agent's failure.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from agentbox.suites.replay import CaseResult


def junit_xml(results: list[CaseResult], repeat: int = 1) -> str:
    """The JUnit XML document for ``results``."""
    root = ET.Element("testsuites", name="agentbox")
    groups: dict[str, list[CaseResult]] = {}
    for r in results:
        groups.setdefault(str(Path(r.path).parent), []).append(r)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    total_time = 0.0
    for folder, items in groups.items():
        suite = ET.SubElement(root, "testsuite", name=folder)
        failures = errors = skipped = 0
        seconds = 0.0
        for r in items:
            name = r.name + (f" [repeat {r.repeat + 1}]" if repeat > 1 else "")
            case = ET.SubElement(
                suite, "testcase", classname=folder, name=name, file=r.path, time=f"{r.seconds:.4f}"
            )
            seconds += r.seconds
            if r.simulator_error:  # the simulated user failed, not the agent
                node = ET.SubElement(case, "skipped", message=r.message)
                node.text = "\n".join(r.explain())
                skipped += 1
            elif not r.passed:
                kind = "error" if r.status == "error" else "failure"
                node = ET.SubElement(
                    case,
                    kind,
                    message=r.message,
                    type="cassette-miss"
                    if r.miss
                    else ("load-error" if kind == "error" else "expectation"),
                )
                node.text = "\n".join(r.explain())
                if kind == "error":
                    errors += 1
                else:
                    failures += 1
            if r.run_id:
                ET.SubElement(case, "system-out").text = f"run {r.run_id} (status {r.status})"
        suite.set("tests", str(len(items)))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
        suite.set("time", f"{seconds:.4f}")
        totals["tests"] += len(items)
        totals["failures"] += failures
        totals["errors"] += errors
        total_time += seconds
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{total_time:.4f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
