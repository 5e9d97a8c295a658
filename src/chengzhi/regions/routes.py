"""/api/v1/regions, /api/v1/grids, /api/v1/locate."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import shapely
from fastapi import APIRouter, Query

from chengzhi.deps import Limit, Offset, SessionDep, SettingsDep
from chengzhi.models import GridDuty, Level
from chengzhi.privacy import mask_name
from chengzhi.regions import locator, queries
from chengzhi.regions.schemas import (
    GridOut,
    GridPerson,
    LocateBatchIn,
    LocateBatchOut,
    LocationOut,
    RegionDetail,
    RegionOut,
)
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["regions 区划与网格"])
Code = Annotated[str, Query(pattern=r"^\d{2,15}$", description="Division or grid code")]
LevelQ = Annotated[Literal["city", "district", "street", "community", "grid"] | None, Query()]


@router.get("/regions", response_model=Page[RegionOut])
def list_regions(
    session: SessionDep,
    level: LevelQ = None,
    parent: Code | None = None,
    under: Code | None = None,
    q: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[RegionOut]:
    total, rows = queries.list_regions(
        session, limit, offset, level=level, parent=parent, under=under, q=q
    )
    return Page(
        total=total,
        limit=limit,
        offset=offset,
        items=[RegionOut.of(r, _parent_code(r)) for r in rows],
    )


@router.get("/regions/{code}", response_model=RegionDetail)
def get_region(session: SessionDep, code: str, geometry: bool = False) -> RegionDetail:
    region = queries.get_region(session, code, with_geometry=geometry)
    chain = queries.ancestors(session, region)
    shape = (
        json.loads(shapely.to_geojson(shapely.from_wkb(region.geometry)))
        if geometry and region.geometry
        else None
    )
    return RegionDetail(
        **RegionOut.of(region, _parent_code(region)).model_dump(),
        ancestors=[RegionOut.of(a, _parent_code(a)) for a in chain],
        children=queries.child_counts(session, [region.id]).get(region.id, 0),
        geometry=shape,
    )


@router.get("/regions/{code}/children", response_model=Page[RegionOut])
def region_children(
    session: SessionDep, code: str, limit: Limit = 1000, offset: Offset = 0
) -> Page[RegionOut]:
    queries.get_region(session, code)
    total, rows = queries.list_regions(session, limit, offset, parent=code)
    return Page(
        total=total, limit=limit, offset=offset, items=[RegionOut.of(r, code) for r in rows]
    )


@router.get("/geojson/{level}")
def region_geojson(
    session: SessionDep,
    level: Literal["district", "street", "community", "grid"],
    under: Code | None = None,
    limit: Annotated[int, Query(ge=1, le=20_000)] = 5000,
) -> dict[str, Any]:
    return queries.geojson(session, level, under, limit)


@router.get("/stats/structure")
def structure_stats(session: SessionDep, under: Code | None = None) -> dict[str, Any]:
    return queries.stats(session, under)


@router.get("/grids", response_model=Page[GridOut])
def list_grids(
    session: SessionDep, under: Code | None = None, limit: Limit = 100, offset: Offset = 0
) -> Page[GridOut]:
    total, rows = queries.list_regions(session, limit, offset, level=Level.GRID.value, under=under)
    people = queries.grid_assignments(session, [r.id for r in rows])
    items = [_grid_out(r, people.get(r.id, [])) for r in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.get("/grids/{code}", response_model=GridOut)
def get_grid(session: SessionDep, code: str) -> GridOut:
    region = queries.get_grid(session, code)
    return _grid_out(region, queries.grid_assignments(session, [region.id]).get(region.id, []))


@router.get("/locate", response_model=LocationOut)
def locate_one(
    session: SessionDep,
    settings: SettingsDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: Literal["wgs84", "gcj02"] = "wgs84",
) -> LocationOut:
    [loc] = locator.locate_points(session, [lon], [lat], crs, settings.outside_tolerance_m)
    return LocationOut.of(loc)


@router.post("/locate", response_model=LocateBatchOut)
def locate_batch(session: SessionDep, settings: SettingsDep, body: LocateBatchIn) -> LocateBatchOut:
    lon = [p[0] for p in body.points]
    lat = [p[1] for p in body.points]
    found = locator.locate_points(session, lon, lat, body.crs, settings.outside_tolerance_m)
    return LocateBatchOut(results=[LocationOut.of(loc) for loc in found])


def _parent_code(region: Any) -> str | None:
    return region.parent.code if region.parent_id else None


def _grid_out(region: Any, assignments: list) -> GridOut:
    people = [
        GridPerson(
            person_id=a.person_id,
            name=mask_name(a.person.name),
            duty=a.duty,
            duty_label=GridDuty(a.duty).zh,
        )
        for a in assignments
    ]
    return GridOut(**RegionOut.of(region, _parent_code(region)).model_dump(), people=people)
