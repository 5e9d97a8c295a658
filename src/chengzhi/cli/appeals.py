"""`chengzhi appeals …`: bulk import of a city's historical orders (历史工单导入)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chengzhi import db
from chengzhi.cli.common import console, domain_errors, progress, write_problems
from chengzhi.errors import Problem
from chengzhi.intake import importer, importer_rows
from chengzhi.intake.importer import ImportReport

appeals_app = typer.Typer(
    help="诉求 Appeals: bulk import of historical orders.", no_args_is_help=True
)

HOLDS = {
    "low_confidence": "低置信度 low confidence",
    "unlocated": "无法定位 unlocated",
    "ambiguous_place": "地点不明 ambiguous place",
    "duplicate": "疑似重复 possible duplicate",
    "inquiry": "咨询 inquiry",
    "unroutable": "无责任单位 unroutable",
}


@appeals_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="Orders: .csv (UTF-8 or GB18030) or .xlsx")],
    maps: Annotated[
        list[str],
        typer.Option(
            "--map",
            help="column=field, repeatable: 诉求内容=text 工单编号=source_ref 受理时间=time …",
            show_default=False,
        ),
    ],
    source: Annotated[
        str | None,
        typer.Option(help="Name of this import for its idempotency keys (default: file name)."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Rows per transaction.", min=1)] = 500,
    dispatch: Annotated[
        bool,
        typer.Option(
            help="File and dispatch confident appeals (for open orders); history is only "
            "registered and triaged."
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option(help="Import only the first N data rows.", min=0)
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(help="Where to write the rejected rows (default FILE.rejected.csv)."),
    ] = None,
) -> None:
    """Import orders through intake (triage, dedupe); re-running skips what is already there."""
    with domain_errors(), progress("导入工单 importing") as on_progress:
        result = importer.import_appeals(
            db.engine(),
            file,
            importer_rows.parse_mapping(maps),
            source=source,
            batch=batch,
            dispatch=dispatch,
            limit=limit,
            on_progress=on_progress,
        )
    _summary(result)
    _rejected(result, file, report)


def _summary(report: ImportReport) -> None:
    table = Table("项目 item", "数量 count", title=f"导入 import · {report.source}")
    table.add_row("行 rows", f"{report.rows:,}")
    table.add_row("导入 imported", f"{report.imported:,}")
    table.add_row("已导入，跳过 skipped (already there)", f"{report.skipped:,}")
    table.add_row("拒绝 rejected", f"{len(report.rejected):,}")
    table.add_row("合并重复件 merged duplicates", f"{report.merged:,}")
    table.add_row("已派遣 dispatched", f"{report.dispatched:,}")
    for hold, count in report.holds.most_common():
        table.add_row(f"待人工分拨 triage queue: {HOLDS.get(hold, hold)}", f"{count:,}")
    console.print(table)
    encoding = f"编码 encoding {report.encoding} · " if report.encoding else ""
    console.print(
        f"{encoding}用时 {report.seconds:.1f} s · {report.rate:,.0f} 行/秒 rows/s", highlight=False
    )


def _rejected(result: ImportReport, file: Path, path: Path | None) -> None:
    """The rejected rows (row number and reason only: no personal data) to a CSV beside the file.
    A clean re-run removes the default report an earlier run left, so it never misleads."""
    default = path is None
    path = path or file.with_name(f"{file.name}.rejected.csv")
    if not result.rejected:
        if default and path.exists():
            path.unlink()
        return
    problems = [Problem(result.source, f"row {n}", reason) for n, reason in result.rejected]
    write_problems(problems, "rejected", path)
    console.print(f"[yellow]拒绝 rejected {len(problems):,} 行 rows[/] → {path}")
