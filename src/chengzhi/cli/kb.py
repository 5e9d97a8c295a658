"""`chengzhi kb …`: the knowledge base of direct answers (知识库) as files, a list, and the
answers it would suggest for an inquiry."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from chengzhi.cli.common import console, domain_errors, print_json
from chengzhi.clock import SystemClock
from chengzhi.db import transaction
from chengzhi.kb import files, match, service

kb_app = typer.Typer(
    help="知识库 Knowledge base of direct answers: import, export, list, suggest.",
    no_args_is_help=True,
)


@kb_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="Articles as .yaml or .xlsx")],
) -> None:
    """Add the file's articles and update those whose title is known (refused whole if any row
    is bad)."""
    with domain_errors(), transaction() as session:
        result = files.import_file(session, SystemClock(), file)
    console.print(
        f"[green]已导入 imported[/] {file.name}: 新增 created {result.created}, "
        f"更新 updated {result.updated}, 未变 unchanged {result.unchanged}"
    )


@kb_app.command("export")
def export_file(file: Annotated[Path, typer.Argument(help="Target .yaml or .xlsx")]) -> None:
    """Export every article, active or not (re-importable)."""
    with domain_errors(), transaction() as session:
        written = files.export_file(session, file)
    console.print(f"[green]已导出 exported[/] {written} 条 articles → {file}")


@kb_app.command("list")
def list_articles(
    q: Annotated[str | None, typer.Option(help="Only articles containing this text.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include deactivated articles.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The articles by id: title, category, state and last change."""
    with domain_errors(), transaction() as session:
        total, rows = service.list_articles(session, q, None if all_ else True, limit)
        found = [
            {
                "id": a.id,
                "title": a.title,
                "category_code": a.category_code,
                "active": a.active,
                "updated_at": a.updated_at.isoformat(),
            }
            for a in rows
        ]
    if json_out:
        print_json({"total": total, "items": found})
        return
    table = Table("#", "标题 title", "事项分类 category", "状态 state", "更新 updated")
    for a in found:
        state = "启用 active" if a["active"] else "停用 inactive"
        table.add_row(str(a["id"]), a["title"], a["category_code"] or "", state, a["updated_at"])
    console.print(table)
    console.print(f"共 {total} 条 (total)")


@kb_app.command("suggest")
def suggest(
    text: Annotated[str, typer.Argument(help="The inquiry, as the resident put it.")],
    k: Annotated[int, typer.Option(min=1, max=match.MAX_K, help="At most this many.")] = 3,
    min_score: Annotated[
        float, typer.Option(min=0, max=1, help="Leave out answers scoring below this.")
    ] = match.MIN_SCORE,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The answers the knowledge base suggests for TEXT, best first."""
    with domain_errors(), transaction() as session:
        answers = match.suggest(session, text, k, min_score)
    if json_out:
        print_json([asdict(a) for a in answers])
        return
    if not answers:
        console.print("没有匹配的答复 (no answer scores high enough)")
    for a in answers:
        console.print(f"[bold]#{a.article_id} {a.title}[/]  ({a.score:.2f})", highlight=False)
        console.print(a.answer, markup=False, highlight=False)
        console.print()
