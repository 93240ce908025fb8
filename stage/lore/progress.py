"""A progress bar for long indexing runs, shown only when stderr is a terminal."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def batches_with_progress(
    items: Sequence[T], size: int, label: str, enabled: bool = True
) -> Iterator[list[T]]:
    """Yield ``items`` in batches of ``size``, advancing a rich progress bar by items done."""
    batches = [list(items[i : i + size]) for i in range(0, len(items), size)]
    if not batches:
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not (enabled and console.is_terminal):
        yield from batches
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=len(items))
        for batch in batches:
            yield batch
            bar.advance(task, len(batch))
