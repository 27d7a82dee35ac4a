"""LangGraph + SqliteSaver on the same work as ``benchmarks/run_overhead.py``: one thread
of N tool calls, each a model node (scripted: it emits one tool call) and a tool node
that edits a different record of the state (the same stride, the same records), every
super-step checkpointed durably to a fresh SQLite file.

Two ways to keep history, both LangGraph's own:

- ``sqlite``: ``messages`` with ``add_messages`` and ``records`` with a dict-merge
  reducer: every checkpoint stores the whole channel values that changed (all messages
  so far, the whole records dict);
- ``delta``: the same channels as ``DeltaChannel`` (beta in langgraph 1.2): checkpoints
  store the writes and a snapshot every 100 updates.

Prints one JSON line: ``{"calls", "wall_s", "per_call_ms", "rss_mb", "db_mb"}``; the wall
time runs from this process's start (imports, the seed, compiling the graph, opening
the saver) to the end of the run. Install with ``pip install -e '.[bench]'``.

Usage: python benchmarks/peers/langgraph_calls.py [--calls 1000] [--mode sqlite|delta]
       [--state small|10mb]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

STARTED = time.time()
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--mode", choices=["sqlite", "delta"], default="sqlite")
    parser.add_argument("--state", choices=["small", "10mb"], default="small")
    parser.add_argument("--started", type=float, default=STARTED)
    args = parser.parse_args()

    import random
    import sqlite3

    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.graph.message import add_messages
    from run_overhead import _record

    records_n, size = (100, 100) if args.state == "small" else (20_000, 480)
    rng = random.Random(16)
    seed = {f"r{i}": _record(rng, i, size) for i in range(records_n)}

    def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
        return {**old, **new}

    if args.mode == "delta":
        from langgraph.channels.delta import DeltaChannel

        def add_all(state: list[Any], writes: Any) -> list[Any]:
            out = list(state or [])
            for w in writes:
                out = add_messages(out, w)
            return out

        def merge_all(state: dict[str, Any], writes: Any) -> dict[str, Any]:
            out = dict(state or {})
            for w in writes:
                out.update(w)
            return out

        Messages = Annotated[list, DeltaChannel(add_all)]
        Records = Annotated[dict, DeltaChannel(merge_all)]
    else:
        Messages = Annotated[list, add_messages]
        Records = Annotated[dict, merge]

    class State(TypedDict):
        messages: Messages  # type: ignore[valid-type]
        records: Records  # type: ignore[valid-type]
        n: int

    def model(state: State) -> dict[str, Any]:
        n = state["n"]
        if n >= args.calls:
            return {"messages": [AIMessage(content="done")]}
        call = {"name": "touch", "args": {"by": 1}, "id": f"call_{n}"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    def tool(state: State) -> dict[str, Any]:
        n = state["n"]
        key = f"r{(n * 7919) % records_n}"
        record = dict(state["records"][key])
        record["count"] += 1
        result = json.dumps({"key": key, "count": record["count"]})
        return {
            "messages": [ToolMessage(content=result, tool_call_id=f"call_{n}")],
            "records": {key: record},
            "n": n + 1,
        }

    def route(state: State) -> str:
        return "tool" if state["messages"][-1].tool_calls else END

    graph = StateGraph(State)
    graph.add_node("model", model)
    graph.add_node("tool", tool)
    graph.add_edge(START, "model")
    graph.add_conditional_edges("model", route, ["tool", END])
    graph.add_edge("tool", "model")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "checkpoints.db"
        conn = sqlite3.connect(db, check_same_thread=False)
        saver = SqliteSaver(conn)
        app = graph.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bench"}, "recursion_limit": 2 * args.calls + 10}
        out = app.invoke(
            {"messages": [HumanMessage(content="go")], "records": seed, "n": 0}, config
        )
        assert out["n"] == args.calls, out["n"]
        wall = time.time() - args.started
        conn.close()
        db_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    print(
        json.dumps(
            {
                "calls": args.calls,
                "wall_s": wall,
                "per_call_ms": wall / args.calls * 1000,
                "rss_mb": _hwm_mb(),
                "db_mb": db_mb,
            }
        )
    )


if __name__ == "__main__":
    main()
