"""`chengzhi worker` and `chengzhi jobs …`: run background jobs, look at the queue, retry."""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import chengzhi
from chengzhi.cli.common import console, fail, print_json, stop_on_signals
from chengzhi.clock import SystemClock
from chengzhi.db import engine, transaction
from chengzhi.jobs import service
from chengzhi.models import Job, JobStatus

jobs_app = typer.Typer(help="后台任务 Background jobs: list and retry.", no_args_is_help=True)


def worker(
    once: Annotated[bool, typer.Option(help="Run what is due, then exit (cron, tests).")] = False,
    poll: Annotated[float, typer.Option(help="Seconds to wait when nothing is due.")] = 1.0,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="Worker name in the queue (default host:pid).")
    ] = None,
) -> None:
    """Run background jobs until stopped (Ctrl-C or SIGTERM finish the current job first)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    kinds = load_domain_jobs()
    name = worker_id or f"{socket.gethostname()}:{os.getpid()}"
    console.print(f"任务进程 worker {name}: {', '.join(sorted(kinds))}")
    stop = threading.Event()
    with stop_on_signals(stop, "job"):
        ran = service.run_worker(engine(), name, SystemClock(), stop, poll=poll, once=once)
    console.print(f"[green]已停止 stopped[/] · 执行 ran {ran:,}")


def load_domain_jobs() -> list[str]:
    """Import every domain's `jobs.py` so its handlers register; the registered kinds."""
    for path in sorted(Path(chengzhi.__file__).parent.glob("*/jobs.py")):
        importlib.import_module(f"chengzhi.{path.parent.name}.jobs")
    return list(service.registry.handlers)


@jobs_app.command("list")
def list_jobs(
    status: Annotated[JobStatus | None, typer.Option(help="Only jobs with this status.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest jobs: kind, status, when due, attempts, worker, last error."""
    with transaction() as session:
        rows = [
            _row(j) for j in service.list_jobs(session, status.value if status else None, limit)
        ]
    if json_out:
        print_json(rows)
        return
    table = Table("id")
    for header in ("类型 kind", "状态 status", "到期 due (UTC)", "次数 tries"):
        table.add_column(header, no_wrap=True)  # the worker and error columns give way
    table.add_column("进程 worker")
    table.add_column("错误 error", overflow="fold")
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["kind"],
            JobStatus(r["status"]).zh,
            f"{r['run_at']:%Y-%m-%d %H:%M}",
            f"{r['attempts']}/{r['max_attempts']}",
            r["locked_by"] or "",
            r["last_error"] or "",
        )
    console.print(table)


def _row(job: Job) -> dict[str, Any]:
    return {c.key: getattr(job, c.key) for c in Job.__table__.columns}


@jobs_app.command("retry")
def retry(
    job_id: Annotated[int, typer.Argument(help="Job id (see `chengzhi jobs list`).")],
) -> None:
    """Put a failed or dead job back in the queue, due now, with a fresh set of attempts."""
    with transaction() as session:
        job = service.retry(session, job_id, SystemClock())
    if job is None:
        fail(f"没有失败或放弃的任务 no failed or dead job with id {job_id}")
    console.print(f"[green]已重新排队 queued again[/] job {job.id} ({job.kind})")
