"""Conversations: the users who answer an agent, and what their turns leave behind.

A scenario's ``user:`` section (:class:`agentbox.scenario.UserSpec`) names scripted
turns, a simulated user (a model playing the customer from instructions) or a python
function. The users themselves are here (:mod:`agentbox.conversation.users`), with what a
run's ``user`` steps give back (:mod:`agentbox.conversation.recording`: the simulated
user's cassette, guard checks). Asking the user when the agent yields the floor and
recording the answer as a ``user`` step is the agents' side:
:mod:`agentbox.agents.conversation` (``ctx.next_user_message()``, ``ctx.ask_user()``).
Conversation expectations live with the others in :mod:`agentbox.evals`.
"""
