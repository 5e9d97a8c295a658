"""`chengzhi clients …`: API clients (接口客户端) — keys for Open311 apps and department systems.
A key is printed once, when it is made; the database keeps only its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from chengzhi.auth import clients
from chengzhi.cli.common import console, domain_errors, print_json
from chengzhi.clock import SystemClock
from chengzhi.config import get_settings
from chengzhi.db import transaction
from chengzhi.models import Role

clients_app = typer.Typer(
    help="接口客户端 API clients: keys for Open311 apps and department systems.",
    no_args_is_help=True,
)


@clients_app.command("create")
def create(
    name: str,
    role: Annotated[Role, typer.Option(help="Role the client acts with (e.g. operator).")],
    unit: Annotated[str | None, typer.Option(help="Org unit code of the service account.")] = None,
) -> None:
    """Make a client and its service account; print its key once (only its hash is kept)."""
    with domain_errors(), transaction() as session:
        client, key = clients.create_client(session, SystemClock(), name, role, unit)
        name = client.name
    console.print(f"[green]已创建 created[/] client {name} ({role.value})")
    console.print("密钥只显示这一次 (the key is shown only this once):")
    typer.echo(key)


@clients_app.command("list")
def list_clients(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Clients with their role, unit, creation and last use, and whether revoked."""
    with transaction() as session:
        found = clients.list_clients(session)
    if json_out:
        print_json(
            [
                {
                    "name": c.name,
                    "role": c.role,
                    "unit": c.unit_code,
                    "created_at": c.created_at.isoformat(),
                    "last_used_at": c.last_used_at.isoformat() if c.last_used_at else None,
                    "revoked": c.revoked,
                }
                for c in found
            ]
        )
        return
    table = Table(
        "名称 name", "角色 role", "单位 unit", "创建 created", "最近使用 last used", "状态"
    )
    for c in found:
        table.add_row(
            c.name,
            c.role,
            c.unit_code or "",
            _local(c.created_at),
            _local(c.last_used_at),
            "已吊销 revoked" if c.revoked else "有效 active",
        )
    console.print(table)


@clients_app.command("revoke")
def revoke(name: str) -> None:
    """Revoke a client's key at once (and deactivate its service account)."""
    with domain_errors(), transaction() as session:
        clients.revoke(session, name)
    console.print(f"[green]已吊销 revoked[/] client {name}")


def _local(at: datetime | None) -> str:
    """A time in the city's zone, to the minute."""
    return f"{at.astimezone(ZoneInfo(get_settings().timezone)):%Y-%m-%d %H:%M}" if at else ""
