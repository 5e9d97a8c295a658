"""Server-rendered pages: the landing overview and the offline API docs (Swagger UI served from
the installed `swagger-ui-bundle`, never a CDN)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from swagger_ui_bundle import swagger_ui_path

from chengzhi.deps import SessionDep
from chengzhi.models import Level
from chengzhi.regions import queries, service

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
swagger_assets = StaticFiles(directory=str(swagger_ui_path))


@router.get("/", response_class=HTMLResponse)
def home(request: Request, session: SessionDep) -> HTMLResponse:
    context = {
        "city": service.city_name(session),
        "stats": queries.stats(session),
        "levels": list(Level),
    }
    return templates.TemplateResponse(request, "home.html", context)


@router.get("/docs", response_class=HTMLResponse)
def api_docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="城治 chengzhi API",
        swagger_js_url="/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/swagger/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )
