"""`chengzhi gazetteer …`: the city's gazetteer (地名库) — roads, landmarks and other names the
administration adds beside the region names, and address text resolved to a region."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from chengzhi.cli.common import console, domain_errors, print_json
from chengzhi.clock import SystemClock
from chengzhi.db import transaction
from chengzhi.models import GazetteerEntry, Level
from chengzhi.regions import gazetteer, gazetteer_entries

gazetteer_app = typer.Typer(
    help="地名库 Gazetteer: place names → regions, and address text resolved to a region.",
    no_args_is_help=True,
)
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@gazetteer_app.command("add")
def add_entry(
    name: Annotated[str, typer.Argument(help="The name, e.g. 观音桥步行街.")],
    region: Annotated[str, typer.Option(help="The finest region it lies in (code).")],
    kind: Annotated[str, typer.Option(help="road (道路) | landmark (地标) | alias (别名).")],
    lon: Annotated[float | None, typer.Option(help="Longitude (WGS-84), with --lat.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude (WGS-84), with --lon.")] = None,
) -> None:
    """Add NAME to the gazetteer, pointing at a region."""
    with domain_errors(), transaction() as session:
        entry = gazetteer_entries.add_entry(session, SystemClock(), name, region, kind, lon, lat)
        code = entry.region_code
        entry_id, chain = entry.id, gazetteer_entries.chain_names(session, [code]).get(code, "")
    console.print(f"[green]已添加 added[/] #{entry_id} {entry.name} → {code} {chain}")


@gazetteer_app.command("list")
def list_entries(
    q: Annotated[str | None, typer.Option(help="Part of a name, or a region code prefix.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    json_out: Json = False,
) -> None:
    """The admin's entries, by name."""
    with domain_errors(), transaction() as session:
        total, rows = gazetteer_entries.list_entries(session, limit, offset, q)
        names = gazetteer_entries.chain_names(session, {r.region_code for r in rows})
        found = [_entry(r, names.get(r.region_code)) for r in rows]
    if json_out:
        print_json({"total": total, "items": found})
        return
    table = Table(
        "#", "地名 name", "类别 kind", "区划 region", "位置 point", title=f"地名库 {total:,}"
    )
    for e in found:
        point = f"{e['lon']:.6f}, {e['lat']:.6f}" if e["lon"] is not None else "—"
        region = f"{e['region_code']} {e['region_name'] or ''}"
        table.add_row(str(e["id"]), e["name"], e["kind"], region, point)
    console.print(table)


@gazetteer_app.command("remove")
def remove_entry(entry_id: Annotated[int, typer.Argument(help="The entry's number (#).")]) -> None:
    """Remove an entry."""
    with domain_errors(), transaction() as session:
        gazetteer_entries.remove_entry(session, entry_id)
    console.print(f"[green]已删除 removed[/] #{entry_id}")


@gazetteer_app.command("resolve")
def resolve(
    text: Annotated[
        str, typer.Argument(help="Address text, e.g. 渝中区解放碑街道青年路社区3号楼.")
    ],
    limit: Annotated[int, typer.Option(min=1, max=gazetteer.MAX_LIMIT, help="At most.")] = 3,
    json_out: Json = False,
) -> None:
    """The regions TEXT names, best first, and whether to ask the operator."""
    with domain_errors(), transaction() as session:
        matches = gazetteer.resolve(session, text, limit)
    unsure = gazetteer.ambiguous(matches)
    if json_out:
        print_json({"matches": [asdict(m) for m in matches], "ambiguous": unsure})
        return
    if not matches:
        console.print("[yellow]未找到地名 (no place name found)[/]")
        return
    table = Table("置信度 confidence", "代码 code", "级别 level", "区划 region", "匹配 matched")
    for m in matches:
        level = Level(m.level)
        table.add_row(f"{m.confidence:.2f}", m.region_code, level.zh, m.name, m.matched)
    console.print(table)
    if unsure:
        console.print("[yellow]不确定，请人工确认 (ambiguous: ask the operator)[/]")


def _entry(entry: GazetteerEntry, region_name: str | None) -> dict[str, object]:
    return {
        "id": entry.id,
        "name": entry.name,
        "kind": entry.kind,
        "region_code": entry.region_code,
        "region_name": region_name,
        "lon": entry.lon,
        "lat": entry.lat,
    }
