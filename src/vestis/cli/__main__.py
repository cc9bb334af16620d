"""``python -m vestis.cli`` runs the ``vestis`` command."""

from vestis.cli.main import run

run()
