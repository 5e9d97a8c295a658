"""The FastAPI application: routers, the one domain-error handler, the landing page."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from chengzhi import __version__
from chengzhi.auth import routes as auth_routes
from chengzhi.cases import routes as cases_routes
from chengzhi.catalog import routes as catalog_routes
from chengzhi.errors import DomainError, ImportRejected
from chengzhi.intake import open311
from chengzhi.intake import routes as intake_routes
from chengzhi.kb import routes as kb_routes
from chengzhi.orgs import routes as orgs_routes
from chengzhi.regions import gazetteer_routes
from chengzhi.regions import routes as regions_routes
from chengzhi.triage import routes as triage_routes
from chengzhi.web import pages

STATIC = Path(__file__).parent / "static"


def create_app() -> FastAPI:
    app = FastAPI(
        title="城治 chengzhi API",
        version=__version__,
        description="One network for a megacity's governance: structure, grids, organisations.",
        docs_url=None,  # served by pages.api_docs from local assets, never a CDN
        redoc_url=None,
    )
    app.mount("/static/swagger", pages.swagger_assets, name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(regions_routes.router)
    app.include_router(gazetteer_routes.router)
    app.include_router(orgs_routes.router)
    app.include_router(catalog_routes.router)
    app.include_router(auth_routes.router)
    app.include_router(cases_routes.router)
    app.include_router(cases_routes.tasks_router)
    app.include_router(intake_routes.router)
    app.include_router(open311.router)
    app.include_router(triage_routes.router)
    app.include_router(kb_routes.router)
    app.include_router(pages.router)
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    return app


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 echoes the offending input; make it JSON-safe (Infinity, NaN) first."""
    return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
    body: dict = {"detail": exc.message}
    if isinstance(exc, ImportRejected):
        body["problems"] = [p.as_dict() for p in exc.problems[:100]]
    return JSONResponse(body, status_code=exc.status)
