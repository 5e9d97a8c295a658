"""What every command shares: the console, error reporting, rejected-row reports, progress."""

from __future__ import annotations

import csv
import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from chengzhi.config import get_settings
from chengzhi.errors import DomainError, ImportRejected, Problem
from chengzhi.progress import OnProgress

console = Console()
err = Console(stderr=True)
SHOWN_PROBLEMS = 30


@contextmanager
def domain_errors() -> Iterator[None]:
    """Turn domain errors into a clear message and exit code 1, writing the full problem list
    to a report file when an import was refused."""
    try:
        yield
    except ImportRejected as e:
        fail(e.message, e.problems)
    except DomainError as e:
        fail(e.message)


def fail(message: str, problems: list[Problem] | None = None) -> NoReturn:
    err.print(f"[bold red]错误 error:[/] {message}")
    for p in (problems or [])[:SHOWN_PROBLEMS]:
        err.print(f"  {p}", markup=False, highlight=False)
    if problems and len(problems) > SHOWN_PROBLEMS:
        err.print(f"  … {len(problems) - SHOWN_PROBLEMS} more")
    if problems:
        err.print(f"完整清单 full list: {write_problems(problems, 'rejected')}")
    raise typer.Exit(1)


def write_problems(problems: list[Problem], name: str, path: Path | None = None) -> Path:
    """A CSV (UTF-8 with BOM, so Excel opens it in Chinese) listing each refused row."""
    if path is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = get_settings().data_dir / "reports" / f"{name}-{stamp}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "where", "reason"])
        writer.writerows([p.source, p.where, p.reason] for p in problems)
    return path


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@contextmanager
def progress(description: str) -> Iterator[OnProgress]:
    """A rich progress bar on stderr; yields the `on_progress(done, total)` services call."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


@contextmanager
def stop_on_signals(stop: threading.Event, unit: str) -> Iterator[None]:
    """For long-running commands: the first Ctrl-C or SIGTERM sets `stop`, so the current
    `unit` of work (a job, a message) finishes; a second Ctrl-C interrupts it (its transaction
    rolls back and the work comes again)."""

    def handle(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        console.print(f"正在停止 stopping after the current {unit}…")
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
