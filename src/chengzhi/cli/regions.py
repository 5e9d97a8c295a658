"""`chengzhi regions …` and `chengzhi grids …`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chengzhi.cli.common import console, domain_errors, print_json, progress, write_problems
from chengzhi.config import get_settings
from chengzhi.db import transaction
from chengzhi.models import Level
from chengzhi.regions import boundaries, grids, locator, queries, service
from chengzhi.regions.service import ImportReport

regions_app = typer.Typer(
    help="区划 Regions: import codes and boundaries, counts, locate.", no_args_is_help=True
)
grids_app = typer.Typer(
    help="网格 Grids: generate from community polygons or import GeoJSON.", no_args_is_help=True
)

FileArg = Annotated[Path, typer.Argument(help="File to import", show_default=False)]
SkipBad = Annotated[
    bool, typer.Option("--skip-bad", help="Land the good rows; write a report of the rest.")
]
ReportOpt = Annotated[
    Path | None, typer.Option(help="Where --skip-bad writes the rejected rows (CSV).")
]
Crs = Annotated[str, typer.Option(help="Coordinate system of the file: wgs84 or gcj02.")]


def _summary(report: ImportReport, report_path: Path | None) -> None:
    created = ", ".join(f"{Level(k).zh} {v:,}" for k, v in report.created.items()) or "0"
    console.print(
        f"[green]完成 done[/] · 新建 created: {created} · 更新 updated: {report.updated:,}"
    )
    if report.encoding:
        console.print(f"编码 encoding: {report.encoding}")
    if report.skipped_placeholders or report.skipped_outside_root:
        console.print(
            f"跳过 skipped: 占位层级 placeholders {report.skipped_placeholders}, "
            f"不在根下 outside root {report.skipped_outside_root}"
        )
    for item in report.repaired:
        console.print(f"[yellow]{item}[/]", highlight=False)
    if report.problems:
        path = write_problems(report.problems, "rejected", report_path)
        console.print(f"[yellow]拒绝 rejected {len(report.problems)} 行 rows[/] → {path}")


@regions_app.command("import")
def import_codes(
    file: FileArg,
    root: Annotated[
        str | None, typer.Option(help="City code: 12 (Tianjin), 50 (Chongqing), 6401 (Yinchuan)…")
    ] = None,
    skip_bad: SkipBad = False,
    report: ReportOpt = None,
) -> None:
    """Import statistical division codes (统计用区划代码: code,name; UTF-8 or GB18030)."""
    with domain_errors(), transaction() as session, progress("导入区划 importing") as on_progress:
        result = service.import_divisions(session, file, root, skip_bad, on_progress)
    _summary(result, report)


@regions_app.command("import-geojson")
def import_geojson(
    file: FileArg,
    match_property: Annotated[
        list[str],
        typer.Option(
            help="Property holding the code or name; repeat for a name path, parent first."
        ),
    ],
    crs: Crs = "wgs84",
    level: Annotated[str | None, typer.Option(help="Only match regions of this level.")] = None,
    repair: Annotated[
        bool,
        typer.Option(
            help="Rebuild invalid polygons (self-intersections) when the area stays the same."
        ),
    ] = False,
    skip_bad: SkipBad = False,
    report: ReportOpt = None,
) -> None:
    """Import boundaries for existing regions, matched by code or by name."""
    props = [p for value in match_property for p in value.split(",")]
    with domain_errors(), transaction() as session, progress("导入边界 importing") as on_progress:
        result = boundaries.import_boundaries(
            session, file, props, crs, level, skip_bad, repair, on_progress
        )
    _summary(result, report)


@regions_app.command("stats")
def stats(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    under: Annotated[str | None, typer.Option(help="Only the subtree under this code.")] = None,
) -> None:
    """Counts per level (with boundaries, population, households)."""
    with transaction() as session:
        data = queries.stats(session, under)
    if json_out:
        print_json(data)
        return
    table = Table(
        "层级 level", "数量 count", "有边界 with boundary", "人口 population", "户数 households"
    )
    for level, row in data.items():
        table.add_row(
            f"{row['label']} {level}",
            f"{row['count']:,}",
            f"{row['with_boundary']:,}",
            f"{row['population']:,}",
            f"{row['households']:,}",
        )
    console.print(table)


@regions_app.command("locate")
def locate(
    lon: float,
    lat: float,
    crs: Crs = "wgs84",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Which grid, community, street and district a point lies in."""
    with transaction() as session:
        [loc] = locator.locate_points(
            session, [lon], [lat], crs, get_settings().outside_tolerance_m
        )
    chain = {r.level: {"code": r.code, "name": r.name} for r in loc.chain}
    data = {"status": loc.status, "distance_m": round(loc.distance_m, 1), **chain}
    if json_out:
        print_json(data)
        return
    console.print(
        f"状态 status: {loc.status}" + (f" ({loc.distance_m:.0f} m)" if loc.distance_m else "")
    )
    for ref in loc.chain:
        console.print(f"  {Level(ref.level).zh:<6} {ref.code:<16} {ref.name}")


@grids_app.command("generate")
def generate(
    under: Annotated[str | None, typer.Option(help="Only communities under this code.")] = None,
    households_per_grid: Annotated[
        int | None, typer.Option(help="Target households per grid (default from settings: 400).")
    ] = None,
    replace: Annotated[
        bool, typer.Option(help="Replace existing grids (and their duty assignments).")
    ] = False,
    seed: int = 0,
) -> None:
    """Partition each community's polygon into grids of about N households."""
    target = households_per_grid or get_settings().households_per_grid
    with (
        domain_errors(),
        transaction() as session,
        progress("划分网格 partitioning") as on_progress,
    ):
        result = grids.generate_grids(
            session, under, target, replace, seed, on_progress=on_progress
        )
    _summary(result, None)


@grids_app.command("import")
def import_grids(
    file: FileArg,
    code_property: Annotated[
        str | None, typer.Option(help="Property with the 15-digit grid code.")
    ] = None,
    name_property: Annotated[str | None, typer.Option(help="Property with the grid name.")] = None,
    crs: Crs = "wgs84",
    skip_bad: SkipBad = False,
    report: ReportOpt = None,
) -> None:
    """Import grid polygons; each must lie inside exactly one community."""
    with domain_errors(), transaction() as session, progress("导入网格 importing") as on_progress:
        result = grids.import_grids(
            session, file, code_property, name_property, crs, skip_bad, on_progress
        )
    _summary(result, report)
