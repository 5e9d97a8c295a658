"""Progress reporting for long operations: a service calls `on_progress(done, total)`; the CLI
draws a rich progress bar from it, everything else passes `quiet`."""

from __future__ import annotations

from collections.abc import Callable

OnProgress = Callable[[int, int], None]


def quiet(done: int, total: int) -> None:
    """The default: report nothing."""
