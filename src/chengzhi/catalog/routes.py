"""/api/v1/catalog: the matter catalogue. Anyone may read it; staff may download a version; only
an administrator makes a new version, from whole documents or by changing one category."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from chengzhi.auth.routes import ActorDep
from chengzhi.catalog import queries, service
from chengzhi.catalog.schemas import (
    CategoryEdited,
    CategoryOut,
    CategoryPatch,
    VersionIn,
    VersionOut,
)
from chengzhi.deps import ClockDep, Limit, Offset, SessionDep
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1/catalog", tags=["catalogue 事项清单"])
Kind = Literal["component", "matter", "topic"]
Code = Annotated[str, Path(max_length=20)]
Version = Annotated[int | None, Query(ge=1, description="Catalogue version (default: current)")]
MEDIA_TYPES = {
    "yaml": "application/yaml",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def editor(actor: ActorDep) -> int | None:
    """The acting administrator's person id: 401 without a login, 403 for any other role."""
    service.authorise_edit(actor.role)
    return actor.person_id


def staff(actor: ActorDep) -> None:
    service.authorise_export(actor.role)


EditorId = Annotated[int | None, Depends(editor)]


@router.get("/versions", response_model=list[VersionOut])
def list_versions(session: SessionDep) -> list[VersionOut]:
    return [VersionOut.model_validate(v) for v in service.versions(session)]


@router.post("/versions", response_model=VersionOut, status_code=201)
def create_version(
    session: SessionDep, clock: ClockDep, editor_id: EditorId, body: VersionIn
) -> VersionOut:
    version = service.create_version(
        session, clock, body.documents, body.note, editor_id, body.based_on
    )
    return VersionOut.model_validate(version)


@router.get(
    "/versions/{number}/export",
    dependencies=[Depends(staff)],
    response_class=Response,
    responses={200: {"content": {t: {} for t in MEDIA_TYPES.values()}}},
)
def export_version(
    session: SessionDep,
    number: Annotated[int, Path(ge=1)],
    file_format: Annotated[Literal["yaml", "xlsx"], Query(alias="format")] = "yaml",
) -> Response:
    version, content = service.export_file(session, number, file_format)
    filename = f"chengzhi-catalog-v{version.number}.{file_format}"
    return Response(
        content,
        media_type=MEDIA_TYPES[file_format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


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


@router.patch("/categories/{kind}/{code}", response_model=CategoryEdited)
def edit_category(
    session: SessionDep,
    clock: ClockDep,
    editor_id: EditorId,
    kind: Kind,
    code: Code,
    body: CategoryPatch,
) -> CategoryEdited:
    version, row = service.edit_category(
        session, clock, kind, code, body.changes(), body.note, editor_id, body.based_on
    )
    return CategoryEdited(
        version=VersionOut.model_validate(version), category=CategoryOut.model_validate(row)
    )
