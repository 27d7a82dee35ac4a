"""Unit tests of :class:`agentbox.cassette.RequestHasher`: the request hash that keys a
cassette, computed incrementally over a growing conversation."""

from __future__ import annotations

from typing import Any

from agentbox.cassette import RequestHasher, compact_request, expand_requests, request_hash
from agentbox.redact import Redactor

TOOLS: list[dict[str, Any]] = [{"type": "function", "function": {"name": "get_order"}}]


def conversation() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "where is o1?"},
        {"role": "assistant", "content": "checking"},
    ]


def hasher() -> RequestHasher:
    return RequestHasher(Redactor())


def test_an_extended_conversation_reuses_the_shared_prefix() -> None:
    h = hasher()
    messages = conversation()
    first, shared = h.hash(messages[:2], TOOLS)
    assert shared == 0
    second, shared = h.hash(messages, TOOLS)  # the same dicts, one appended
    assert shared == 2
    assert first != second
    assert second == request_hash(messages, TOOLS)  # incremental == from scratch


def test_equal_but_new_message_objects_share_nothing_yet_hash_alike() -> None:
    h = hasher()
    h.hash(conversation(), TOOLS)
    digest, shared = h.hash(conversation(), TOOLS)  # equal content, new objects
    assert shared == 0
    assert digest == request_hash(conversation(), TOOLS)


def test_the_hash_depends_on_content_order_and_tools() -> None:
    base = request_hash(conversation(), TOOLS)
    assert request_hash(conversation(), TOOLS) == base
    assert request_hash(list(reversed(conversation())), TOOLS) != base
    assert request_hash(conversation(), []) != base
    changed = conversation()
    changed[1]["content"] = "where is o2?"
    assert request_hash(changed, TOOLS) != base
    reordered_keys = [dict(reversed(list(m.items()))) for m in conversation()]
    assert request_hash(reordered_keys, TOOLS) == base  # canonical JSON: key order ignored


def test_a_secret_and_its_redacted_recording_hash_alike() -> None:
    secret = "sk-live-0123456789abcdef"
    redactor = Redactor(values=[secret])
    live = [{"role": "user", "content": f"my key is {secret}"}]
    recorded = [redactor(live[0])]
    assert recorded[0]["content"] != live[0]["content"]
    assert (
        RequestHasher(redactor).hash(live, TOOLS)[0]
        == RequestHasher(redactor).hash(recorded, TOOLS)[0]
    )


def test_compact_requests_expand_back_to_the_full_messages() -> None:
    h = hasher()
    messages = conversation()
    stored = [compact_request(messages[:n], TOOLS, h) for n in (1, 2, 3)]
    assert [s["prefix"] for s in stored] == [0, 1, 2]
    assert [len(s["delta"]) for s in stored] == [1, 1, 1]
    assert stored[0]["tools"] == ["get_order"]
    rebuilt = expand_requests((s["prefix"], s["delta"]) for s in stored)
    assert rebuilt == [messages[:1], messages[:2], messages]


def test_appended_branched_and_shortened_conversations_hash_as_from_scratch() -> None:
    """The hasher extends its state in place while a conversation is appended to (so its
    cost does not grow with the history) and starts over from the shared prefix when a
    request branches off or drops messages: every hash equals the from-scratch one."""
    h = hasher()
    messages = conversation()
    sequence: list[list[dict[str, Any]]] = []
    for i in range(6):
        messages.append({"role": "user", "content": f"turn {i}"})
        sequence.append(list(messages))  # a new list of the same message objects
    sequence.append([*messages[:4], {"role": "user", "content": "a branch"}])
    sequence.append(messages[:4])  # a shorter request: the prefix alone
    sequence.append(list(messages))  # back to the whole conversation
    expected_shared = [0, 4, 5, 6, 7, 8, 4, 4, 4]
    for request, shared in zip(sequence, expected_shared, strict=True):
        digest, got = h.hash(request, TOOLS)
        assert (digest, got) == (request_hash(request, TOOLS), shared)
