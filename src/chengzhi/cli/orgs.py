"""`chengzhi orgs …` (units and their office hours), `chengzhi people …` and
`chengzhi structure check`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from chengzhi.cli.common import console, domain_errors, fail, print_json
from chengzhi.clock import SystemClock
from chengzhi.db import transaction
from chengzhi.models import GridDuty, OrgUnit, Role, UnitKind
from chengzhi.orgs import calendar, queries, service

orgs_app = typer.Typer(help="组织 Organisations: units with jurisdictions.", no_args_is_help=True)
people_app = typer.Typer(help="人员 People: staff, roles and grid duties.", no_args_is_help=True)
structure_app = typer.Typer(help="结构 Structure checks (定格、定人、定责).", no_args_is_help=True)

Under = Annotated[str | None, typer.Option(help="Only the subtree under this region code.")]


@orgs_app.command("scaffold")
def scaffold(under: Under = None) -> None:
    """Create street offices, community committees, district/city departments and operations
    centres for the region tree (existing units are kept)."""
    with domain_errors(), transaction() as session:
        created = service.scaffold_units(session, under)
    for kind, n in created.items():
        console.print(f"{UnitKind(kind).zh}: {n:,}")
    console.print(f"[green]完成 done[/] · 新建单位 created {sum(created.values()):,}")


@orgs_app.command("add")
def add_unit(
    code: str,
    name: str,
    kind: Annotated[UnitKind, typer.Option(help="Unit kind.")],
    jurisdiction: Annotated[str, typer.Option(help="Region code of the unit's jurisdiction.")],
    sector: Annotated[
        str | None, typer.Option(help="Department line (see orgs/sectors.yaml).")
    ] = None,
    parent: Annotated[str | None, typer.Option(help="Parent unit code.")] = None,
) -> None:
    """Add one org unit."""
    with domain_errors(), transaction() as session:
        unit = service.create_unit(session, code, name, kind, jurisdiction, sector, parent)
    console.print(f"[green]已创建 created[/] {unit.code} {unit.name} (id {unit.id})")


@orgs_app.command("hours")
def hours(
    code: str,
    periods: Annotated[
        str | None,
        typer.Option(help="Own office hours, e.g. 08:30-12:00,13:30-17:30 (sorted, no overlap)."),
    ] = None,
    always: Annotated[bool, typer.Option("--always", help="Around the clock (24×7).")] = False,
    default: Annotated[
        bool, typer.Option("--default", help="Back to the city's default hours.")
    ] = False,
) -> None:
    """Show a unit's office hours, or set them with one of --periods, --always, --default.
    Applies to stage clock times computed from now on (new stages, resumes, extensions)."""
    if sum((periods is not None, always, default)) > 1:
        fail("--periods、--always、--default 只能选一个 (give at most one of them)")
    with domain_errors(), transaction() as session:
        if periods is not None:
            pairs = [p.strip().split("-") for p in periods.split(",")]
            unit = calendar.set_office_hours(session, code, pairs)
        elif always or default:
            unit = calendar.set_office_hours(session, code, None, always=always)
        else:
            unit = service.find_unit(session, code)
        shown = _hours_text(unit)
    console.print(f"{code} {unit.name}: {shown}")


def _hours_text(unit: OrgUnit) -> str:
    hours = calendar.office_hours(unit)
    if hours.around_the_clock:
        text = "24×7 全天候 (around the clock)"
    else:
        text = ", ".join(f"{calendar.hhmm(s)}-{calendar.hhmm(e)}" for s, e in hours.periods)
    return text + (" (默认 city default)" if unit.office_hours is None else "")


@people_app.command("add")
def add_person(
    name: str,
    role: Annotated[Role, typer.Option(help="Role.")],
    unit: Annotated[str | None, typer.Option(help="Org unit code.")] = None,
    phone: Annotated[str | None, typer.Option(help="Mobile number (stored, shown masked).")] = None,
    grid: Annotated[str | None, typer.Option(help="Grid code to assign (grid workers).")] = None,
    duty: Annotated[GridDuty, typer.Option(help="Duty on the grid.")] = GridDuty.FULL_TIME,
) -> None:
    """Add one person, optionally on a grid."""
    with domain_errors(), transaction() as session:
        person = service.create_person(session, SystemClock(), name, role, unit, phone)
        if grid:
            service.assign_grid(session, grid, person.id, duty)
    console.print(f"[green]已创建 created[/] person {person.id}")


@structure_app.command("check")
def check(
    under: Under = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Grids without people or head, grid workers without grids, regions without boundaries.
    Exits 1 when anything is found, so scripts can gate on it."""
    with transaction() as session:
        found = queries.structure_check(session, under)
    if json_out:
        print_json(found)
    else:
        table = Table("检查 check", "数量 count", "示例 sample")
        for name, item in found.items():
            table.add_row(name, f"{item['count']:,}", " ".join(map(str, item["sample"][:5])))
        console.print(table)
    if any(item["count"] for item in found.values()):
        raise typer.Exit(1)
