"""`chengzhi` — the command line. Every command is documented in docs/cli.md (a test checks)."""

from __future__ import annotations

from typing import Annotated

import typer

from chengzhi import __version__
from chengzhi.catalog import service as catalog
from chengzhi.cli.appeals import appeals_app
from chengzhi.cli.audit import audit_app
from chengzhi.cli.calendar import calendar_app
from chengzhi.cli.catalog import catalog_app
from chengzhi.cli.clients import clients_app
from chengzhi.cli.common import console, domain_errors
from chengzhi.cli.demo import demo_city, simulate
from chengzhi.cli.gazetteer import gazetteer_app
from chengzhi.cli.intake import intake_app
from chengzhi.cli.kb import kb_app
from chengzhi.cli.orgs import orgs_app, people_app, structure_app
from chengzhi.cli.regions import grids_app, regions_app
from chengzhi.cli.triage import triage_app
from chengzhi.cli.worker import jobs_app, worker
from chengzhi.clock import SystemClock
from chengzhi.config import get_settings
from chengzhi.db import migrate, transaction

app = typer.Typer(
    name="chengzhi",
    help="城治 chengzhi — one platform for a megacity's social governance.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold personal data
)
app.add_typer(regions_app, name="regions")
app.add_typer(grids_app, name="grids")
app.add_typer(gazetteer_app, name="gazetteer")
app.add_typer(orgs_app, name="orgs")
app.add_typer(people_app, name="people")
app.add_typer(structure_app, name="structure")
app.add_typer(calendar_app, name="calendar")
app.add_typer(catalog_app, name="catalog")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(clients_app, name="clients")
app.add_typer(intake_app, name="intake")
app.add_typer(appeals_app, name="appeals")
app.add_typer(triage_app, name="triage")
app.add_typer(kb_app, name="kb")
app.command("demo-city")(demo_city)
app.command("worker")(worker)
app.command("simulate")(simulate)


@app.command()
def init() -> None:
    """Create or upgrade the database schema (migrations); install the default catalogue."""
    settings = get_settings()
    with domain_errors():
        migrate(settings.url)
        with transaction() as session:
            installed = catalog.install_defaults(session, SystemClock())
    console.print(f"[green]数据库已就绪 database ready[/]: {_safe_url(settings.url)}")
    if installed:
        console.print(f"默认事项清单 default catalogue v1: {installed.categories:,} 类")


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Serve the web console and API."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "chengzhi.web.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="info",
    )


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
