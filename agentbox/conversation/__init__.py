"""Conversations: the user who answers the agent, and user turns as ``user`` steps.

A scenario's ``user:`` section (:class:`agentbox.scenario.UserSpec`) names scripted
turns, a simulated user (a model playing the customer from instructions) or a python
function. :func:`next_user_message` asks it when the agent yields the floor and records
the answer as a ``user`` step (:mod:`agentbox.conversation.turns`); the users themselves
live in :mod:`agentbox.conversation.users`, and conversation expectations in
:mod:`agentbox.conversation.expect`.
"""

from agentbox.conversation.turns import ask_user, has_user, next_user_message

__all__ = ["ask_user", "has_user", "next_user_message"]
