"""``python -m agentbox``: the ``agentbox`` command (:func:`agentbox.cli.main`)."""

from agentbox.cli import main

main()
