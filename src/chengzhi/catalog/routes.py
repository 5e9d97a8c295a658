"""/api/v1/catalog: the matter catalogue, read-only (edits go through versioned imports)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from chengzhi.catalog import queries, service
from chengzhi.catalog.schemas import CategoryOut, VersionOut
from chengzhi.deps import Limit, Offset, SessionDep
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1/catalog", tags=["catalogue 事项清单"])
Kind = Literal["component", "matter", "topic"]
Version = Annotated[int | None, Query(ge=1, description="Catalogue version (default: current)")]


@router.get("/versions", response_model=list[VersionOut])
def list_versions(session: SessionDep) -> list[VersionOut]:
    return [VersionOut.model_validate(v) for v in service.versions(session)]


@router.get("/categories", response_model=Page[CategoryOut])
def list_categories(
    session: SessionDep,
    version: Version = None,
    kind: Kind | None = None,
    parent: Annotated[str | None, Query(max_length=20)] = None,
    leaf: bool | None = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[CategoryOut]:
    total, rows = queries.list_categories(session, limit, offset, version, kind, parent, leaf, q)
    items = [CategoryOut.model_validate(r) for r in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/categories/{kind}/{code}", response_model=CategoryOut)
def get_category(
    session: SessionDep, kind: Kind, code: str, version: Version = None
) -> CategoryOut:
    return CategoryOut.model_validate(queries.get_category(session, kind, code, version))
