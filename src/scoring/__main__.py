"""``python -m scoring``: the same as the ``scoring`` command."""

from scoring.cli import app

app(prog_name="scoring")
