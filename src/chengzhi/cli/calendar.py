"""`chengzhi calendar …`: the city's working calendar (工作日历) — official holidays and make-up
working days, with the administration's own entries over them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from chengzhi.cli.common import console, domain_errors, fail, print_json
from chengzhi.clock import SystemClock
from chengzhi.db import transaction
from chengzhi.orgs import calendar

calendar_app = typer.Typer(
    help="工作日历 Working calendar: holidays and working days the clocks count.",
    no_args_is_help=True,
)
Day = Annotated[str, typer.Argument(help="The date, YYYY-MM-DD.")]


@calendar_app.command("list")
def list_days(
    year: Annotated[int | None, typer.Option(help="The year (default: this year).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The year's official holidays and make-up working days (调休) with the admin's entries."""
    with domain_errors(), transaction() as session:
        found = calendar.list_days(session, year or calendar.this_year(SystemClock()))
    if json_out:
        print_json(
            {
                "year": found.year,
                "covered": found.covered,
                "warning": found.warning,
                "days": [_row(d) for d in found.days],
            }
        )
        return
    table = Table("日期 day", "休/班 off/on", "名称 name", "来源 source", title=f"{found.year}")
    for d in found.days:
        source = d.source if d.official is None else f"admin (官方 official: {d.official})"
        table.add_row(f"{d.day:%Y-%m-%d %a}", "班 on" if d.working else "休 off", d.name, source)
    console.print(table)
    if found.warning:
        console.print(f"[yellow]{found.warning}[/]")


@calendar_app.command("set")
def set_day(
    day: Day,
    name: Annotated[str, typer.Option(help="What the day is, e.g. 台风停工 (typhoon closure).")],
    holiday: Annotated[bool, typer.Option("--holiday", help="A day off (休息日).")] = False,
    workday: Annotated[bool, typer.Option("--workday", help="A working day (工作日).")] = False,
) -> None:
    """Declare DAY a holiday or a working day (replacing any entry for it). Applies to stage
    clock times computed from now on (new stages, resumes, extensions)."""
    if holiday == workday:
        fail("请指定 --holiday 或 --workday 之一 (give exactly one of --holiday, --workday)")
    with domain_errors(), transaction() as session:
        entry = calendar.set_day(session, SystemClock(), _date(day), workday, name, None)
        kind = "工作日 working day" if entry.working else "休息日 holiday"
    console.print(f"[green]已设定 set[/] {day}: {kind} · {name}")


@calendar_app.command("unset")
def unset_day(day: Day) -> None:
    """Remove the admin entry for DAY: the official calendar decides again."""
    with domain_errors(), transaction() as session:
        calendar.remove_day(session, _date(day))
    console.print(f"[green]已删除 removed[/] {day}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"日期格式应为 YYYY-MM-DD：{text} (a date is YYYY-MM-DD: {text})")


def _row(d: calendar.DayEntry) -> dict[str, object]:
    return {
        "day": d.day.isoformat(),
        "working": d.working,
        "name": d.name,
        "source": d.source,
        "official": d.official,
    }
