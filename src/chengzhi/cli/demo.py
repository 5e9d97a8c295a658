"""`chengzhi demo-city`: generate, store and describe a synthetic city."""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Annotated

import typer
from rich.table import Table

from chengzhi.catalog import service as catalog
from chengzhi.cli.common import console, domain_errors, err, progress
from chengzhi.clock import SystemClock
from chengzhi.db import transaction
from chengzhi.demo import build, plan
from chengzhi.kb import files as kb_files
from chengzhi.models import Level, Role
from chengzhi.regions import queries


class Scale(StrEnum):
    SMALL = "small"
    CITY = "city"
    MEGACITY = "megacity"


def demo_city(
    scale: Annotated[
        Scale, typer.Option(help="small (tests), city (~8,000 grids), megacity (~120,000 grids).")
    ] = Scale.CITY,
    seed: Annotated[int, typer.Option(help="Same seed, same city.")] = 1,
    replace: Annotated[
        bool, typer.Option(help="Replace the structure already in the database.")
    ] = False,
) -> None:
    """Generate a realistic synthetic city: regions, polygons, units, staff and demo logins."""
    started = time.perf_counter()
    with err.status("规划城市 planning the city…"):
        city = plan.plan_city(scale.value, seed)
    with domain_errors(), transaction() as session, progress("写入 storing") as on_progress:
        logins = build.store_city(session, city, SystemClock(), replace, on_progress)
        catalog.install_defaults(session, SystemClock())
        kb_files.install_demo(session, SystemClock())  # 知识库: answers for 直接办结
        counts = queries.stats(session)
    console.print(
        f"[green]{city.name}[/] ({scale.value}, seed {seed}) "
        f"用时 {time.perf_counter() - started:.1f} s"
    )
    console.print(" · ".join(f"{Level(k).zh} {v['count']:,}" for k, v in counts.items()))
    table = Table(
        "角色 role", "用户名 username", "密码 password", "单位 unit", title="演示账号 demo logins"
    )
    for login in logins:
        table.add_row(Role(login.role).zh, login.username, login.password, login.unit or "—")
    console.print(table)


def simulate(
    days: Annotated[int, typer.Option(help="Simulated days of appeals.")] = 7,
    seed: Annotated[int, typer.Option(help="Same database and seed, same run.")] = 1,
) -> None:
    """Simulate appeals travelling the closed loop in the demo city, through the case verbs."""
    from chengzhi.db import engine
    from chengzhi.demo.simulate import simulate as run

    with domain_errors(), progress("模拟 simulating (hours)") as on_progress:
        report = run(engine(), days, seed, on_progress=on_progress)
    console.print(
        f"[green]{report.days} 天 days[/] seed {report.seed}: 诉求 appeals {report.appeals:,} · "
        f"操作 actions {report.total_actions:,} · 用时 {report.seconds:.1f} s "
        f"({report.total_actions / max(report.seconds, 1e-9):,.0f} actions/s)"
    )
    table = Table("状态 status", "案件 cases", title="期末状态 final statuses")
    for status, count in report.statuses.items():
        table.add_row(status, f"{count:,}")
    console.print(table)
    actions = Table("操作 action", "次数 count", title="操作 actions")
    for action, count in report.actions.most_common():
        actions.add_row(action, f"{count:,}")
    console.print(actions)
    if report.satisfaction:
        console.print(
            "回访 return visits: "
            + " · ".join(f"{k} {v:,}" for k, v in report.satisfaction.most_common())
        )
    if report.refused:
        console.print("被拒 refused: " + " · ".join(f"{k} {v}" for k, v in report.refused.items()))
