"""Inspect AI + mockllm on the same work as ``benchmarks/suite_replay.py``: N samples, each
6 scripted model calls and 5 executed tool calls (lookup_customer, get_order,
list_refunds, create_refund, add_ticket_note) over a copy of the retail seed.

The tools are plain Python over an in-memory copy of agentbox's retail seed (what
agentbox's sandbox tools do, without its policy, validation and trace store); every
sample gets its own copy of the records it changes. One eval of N samples runs in this
process (``max_samples=1``: the mock model answers in order, and with no I/O to wait on,
concurrency adds nothing on CPU), with Inspect's own log written to a temporary folder.

Prints one JSON line: ``{"samples", "wall_s", "per_s", "rss_mb"}``; ``wall_s`` runs from
this process's start (``--started``, given by the caller, else the first import) to the
end of the eval, so start-up and imports are included. Install with
``pip install -e '.[bench]'``.

Usage: python benchmarks/peers/inspect_suite.py [--samples 100] [--started EPOCH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.time()

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "sandboxes" / "retail" / "seed"


def _hwm_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--started", type=float, default=STARTED)
    args = parser.parse_args()

    from inspect_ai import Task, eval
    from inspect_ai.dataset import Sample
    from inspect_ai.model import ModelOutput, ModelUsage, get_model
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate, use_tools
    from inspect_ai.tool import tool

    seed = {p.stem: json.loads(p.read_text()) for p in SEED.glob("*.json")}
    orders = [o for o in seed["orders"].values() if o["status"] == "delivered"]
    tickets = sorted(seed["tickets"])
    state: dict[str, dict[str, dict[str, object]]] = {}

    @tool
    def lookup_customer():  # type: ignore[no-untyped-def]
        async def execute(customer_id: str) -> str:
            """Look up one customer profile.

            Args:
                customer_id: The customer id.
            """
            return json.dumps(seed["customers"][customer_id])

        return execute

    @tool
    def get_order():  # type: ignore[no-untyped-def]
        async def execute(order_id: str) -> str:
            """Look up one order.

            Args:
                order_id: The order id.
            """
            return json.dumps(seed["orders"][order_id])

        return execute

    @tool
    def list_refunds():  # type: ignore[no-untyped-def]
        async def execute(order_id: str) -> str:
            """List the refunds of an order.

            Args:
                order_id: The order id.
            """
            refunds = {**seed["refunds"], **state.setdefault("refunds", {})}
            return json.dumps([r for r in refunds.values() if r["order_id"] == order_id])

        return execute

    @tool
    def create_refund():  # type: ignore[no-untyped-def]
        async def execute(order_id: str, amount_usd: float, idempotency_key: str) -> str:
            """Refund an order.

            Args:
                order_id: The order id.
                amount_usd: Amount in USD.
                idempotency_key: Unique key.
            """
            refunds = state.setdefault("refunds", {})
            rid = f"ref_{len(seed['refunds']) + len(refunds) + 1:04d}"
            refunds[rid] = {
                "id": rid,
                "order_id": order_id,
                "amount_usd": amount_usd,
                "idempotency_key": idempotency_key,
                "status": "pending",
            }
            return json.dumps(refunds[rid])

        return execute

    @tool
    def add_ticket_note():  # type: ignore[no-untyped-def]
        async def execute(ticket_id: str, text: str) -> str:
            """Add a note to a ticket.

            Args:
                ticket_id: The ticket id.
                text: The note.
            """
            ticket = dict(seed["tickets"][ticket_id])
            ticket["notes"] = [*ticket["notes"], {"text": text}]
            state.setdefault("tickets", {})[ticket_id] = ticket
            return json.dumps(ticket["notes"][-1])

        return execute

    def used(output: ModelOutput) -> ModelOutput:
        # with usage given, mockllm does not count tokens (tiktoken would download a file)
        output.usage = ModelUsage(input_tokens=20, output_tokens=10, total_tokens=30)
        return output

    def outputs():  # type: ignore[no-untyped-def]
        for output in _outputs():
            yield used(output)

    def _outputs():  # type: ignore[no-untyped-def]
        for i in range(args.samples):
            order = orders[i % len(orders)]
            oid, cid = order["id"], order["customer_id"]
            amount = round(min(order["total_usd"], 5 + (i * 7.31) % 150), 2)
            key = f"r-{oid[4:]}-{i}"
            m = "mockllm/model"
            yield ModelOutput.for_tool_call(m, "lookup_customer", {"customer_id": cid})
            yield ModelOutput.for_tool_call(m, "get_order", {"order_id": oid})
            yield ModelOutput.for_tool_call(m, "list_refunds", {"order_id": oid})
            yield ModelOutput.for_tool_call(
                m,
                "create_refund",
                {"order_id": oid, "amount_usd": amount, "idempotency_key": key},
            )
            yield ModelOutput.for_tool_call(
                m, "add_ticket_note", {"ticket_id": tickets[i % len(tickets)], "text": key}
            )
            yield ModelOutput.from_content(m, f"Your refund of ${amount} for {oid} is pending.")

    samples = [
        Sample(input=f"Refund order {orders[i % len(orders)]['id']} ({i}).", target="refund")
        for i in range(args.samples)
    ]
    task = Task(
        dataset=samples,
        solver=[
            use_tools(
                lookup_customer(),
                get_order(),
                list_refunds(),
                create_refund(),
                add_ticket_note(),
            ),
            generate(),
        ],
        scorer=includes(),
    )
    with tempfile.TemporaryDirectory() as logs:
        [log] = eval(
            task,
            model=get_model("mockllm/model", custom_outputs=outputs()),
            log_dir=logs,
            display="none",
            max_samples=1,
        )
        assert log.status == "success", str(log.error)[:500]
        assert log.samples is not None
        calls = sum(1 for s in log.samples for m in s.messages if m.role == "tool" and not m.error)
        assert calls == 5 * args.samples, calls
    wall = time.time() - args.started
    print(
        json.dumps(
            {
                "samples": args.samples,
                "wall_s": wall,
                "per_s": args.samples / wall,
                "rss_mb": _hwm_mb(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
