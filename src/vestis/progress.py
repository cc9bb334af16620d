"""Progress bars for long loops (rich), drawn on stderr; silent when stderr is not a terminal and
``VESTIS_PROGRESS=0``."""

from __future__ import annotations

import os

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(transient: bool = False, disable: bool = False) -> Progress:
    """A bar with count, percentage, elapsed time and ETA."""
    disable = disable or os.environ.get("VESTIS_PROGRESS", "1") == "0"
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=transient,
        disable=disable,
    )
