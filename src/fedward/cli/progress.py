"""Rich progress displays shared by the commands: data generation, site loading and rounds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:  # the coordinator (and torch) load only in the commands that run rounds
    from fedward.coordinator import RoundRecord

__all__ = ["console", "counter", "results", "round_progress"]

console = Console(stderr=True)  # progress and notices
results = Console(soft_wrap=True)  # what the command produced: tables and paths, on stdout, never re-wrapped


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console,
        transient=False,
    )


@contextmanager
def counter(description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A bar driven by `(done, total)` callbacks, as the data generator reports them."""
    with _progress() as bar:
        task = bar.add_task(description, total=total, note="")

        def update(done: int, total_: int) -> None:
            bar.update(task, completed=done, total=total_)

        yield update


@contextmanager
def round_progress(rounds: int) -> Iterator[Callable[[RoundRecord], None]]:
    with _progress() as bar:
        task = bar.add_task("rounds", total=rounds, note="")

        def update(record: RoundRecord) -> None:
            acc = record.pooled.get("accuracy")
            failed = sum(o.status != "ok" for o in record.outcomes.values())
            note = f"pooled accuracy {acc:.3f}" if acc is not None else ""
            note += f"  [yellow]{failed} site(s) failed[/]" if failed else ""
            note += f"  max epsilon {max(record.epsilon.values()):.2f}" if record.epsilon else ""
            bar.update(task, advance=1, note=note)

        yield update
