"""``python -m vestis`` runs the ``vestis`` command."""

from vestis.cli.main import run

run()
