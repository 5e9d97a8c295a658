"""API shapes for regions, grids and locate."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chengzhi.models import Level, Region
from chengzhi.regions.locator import Location


class RegionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(examples=["120101001"])
    name: str
    level: str
    level_label: str
    kind: str
    parent_code: str | None
    population: int | None
    households: int | None
    has_boundary: bool
    bbox: list[float] | None = Field(
        None, description="[min_lon, min_lat, max_lon, max_lat], WGS-84"
    )
    label_point: list[float] | None = None
    area_km2: float | None = None

    @classmethod
    def of(cls, r: Region, parent_code: str | None = None) -> RegionOut:
        has = r.min_lon is not None
        return cls(
            code=r.code,
            name=r.name,
            level=r.level,
            level_label=Level(r.level).zh,
            kind=r.kind,
            parent_code=parent_code,
            population=r.population,
            households=r.households,
            has_boundary=has,
            bbox=[r.min_lon, r.min_lat, r.max_lon, r.max_lat] if has else None,  # type: ignore[list-item]
            label_point=[r.label_lon, r.label_lat] if has else None,  # type: ignore[list-item]
            area_km2=round(r.area_km2, 4) if r.area_km2 is not None else None,
        )


class RegionDetail(RegionOut):
    ancestors: list[RegionOut]
    children: int
    geometry: dict[str, Any] | None = None


class GridPerson(BaseModel):
    person_id: int
    name: str | None = Field(description="Masked (张*)")
    duty: str
    duty_label: str


class GridOut(RegionOut):
    people: list[GridPerson]


class RegionRefOut(BaseModel):
    code: str
    name: str


class LocationOut(BaseModel):
    lon: float
    lat: float
    status: Literal["inside", "nearest", "outside"] = Field(
        description="inside a grid; nearest: outside every grid but within tolerance of the "
        "region returned; outside: beyond the city"
    )
    distance_m: float
    grid: RegionRefOut | None = None
    community: RegionRefOut | None = None
    street: RegionRefOut | None = None
    district: RegionRefOut | None = None
    city: RegionRefOut | None = None

    @classmethod
    def of(cls, loc: Location) -> LocationOut:
        levels = {r.level: RegionRefOut(code=r.code, name=r.name) for r in loc.chain}
        return cls(
            lon=loc.lon,
            lat=loc.lat,
            status=loc.status,
            distance_m=round(loc.distance_m, 1),
            **levels,
        )


Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]


class LocateBatchIn(BaseModel):
    points: list[tuple[Lon, Lat]] = Field(
        max_length=100_000, description="[[lon, lat], …], at most 100,000 per request"
    )
    crs: Literal["wgs84", "gcj02"] = "wgs84"


class LocateBatchOut(BaseModel):
    results: list[LocationOut]
