"""`chengzhi audit …`: integrity checks."""

from __future__ import annotations

import typer

from chengzhi.cases import timeline
from chengzhi.cli.common import console, err
from chengzhi.db import transaction

audit_app = typer.Typer(help="审计 Audit: verify the case timelines.", no_args_is_help=True)


@audit_app.command("verify")
def verify() -> None:
    """Recompute every case timeline's hash chain; exit 1 naming each edited or deleted event."""
    with transaction() as session:
        checked, breaks = timeline.verify(session)
    for b in breaks:
        where = f"event {b.seq}" if b.seq is not None else "chain end"
        err.print(f"[red]案件 {b.case_number} {where}[/]: {b.problem}")
    if breaks:
        raise typer.Exit(1)
    console.print(f"[green]时间线完整 timelines intact[/]: {checked:,} events")
