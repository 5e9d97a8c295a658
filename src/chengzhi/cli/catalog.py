"""`chengzhi catalog …`: the matter catalogue as data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chengzhi.catalog import service
from chengzhi.cli.common import console, domain_errors
from chengzhi.clock import SystemClock
from chengzhi.db import transaction

catalog_app = typer.Typer(
    help="事项清单 Matter catalogue: import, export, versions.", no_args_is_help=True
)


@catalog_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="Catalogue as .yaml or .xlsx")],
    note: Annotated[str | None, typer.Option(help="What changed, for the version history.")] = None,
) -> None:
    """Import a catalogue as the new current version (refused whole if any row is bad)."""
    with domain_errors(), transaction() as session:
        version = service.import_catalog(session, SystemClock(), file, note)
    console.print(f"[green]已导入 imported[/] v{version.number}: {version.categories:,} 类")


@catalog_app.command("export")
def export_file(
    file: Annotated[Path, typer.Argument(help="Target .yaml or .xlsx")],
    version: Annotated[int | None, typer.Option(help="Version number (default: current).")] = None,
) -> None:
    """Export a catalogue version with every attribute explicit (re-importable)."""
    with domain_errors(), transaction() as session:
        exported = service.export_catalog(session, file, version)
    console.print(f"[green]已导出 exported[/] v{exported.number} → {file}")


@catalog_app.command("versions")
def list_versions() -> None:
    """The catalogue's version history, newest first."""
    table = Table("版本 version", "类目 categories", "来源 source", "时间 created", "说明 note")
    with transaction() as session:
        for v in service.versions(session):
            table.add_row(
                f"v{v.number}",
                f"{v.categories:,}",
                v.source,
                f"{v.created_at:%Y-%m-%d %H:%M}",
                v.note or "",
            )
    console.print(table)
