"""/api/v1/gazetteer: the city's gazetteer (地名库). Staff resolve address text to a region and
read the entries; only an administrator adds or removes entries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from chengzhi.auth.routes import ActorDep
from chengzhi.deps import ClockDep, Limit, Offset, SessionDep
from chengzhi.models import GazetteerEntry, Level
from chengzhi.regions import gazetteer, gazetteer_entries
from chengzhi.schemas import Page

router = APIRouter(prefix="/api/v1/gazetteer", tags=["gazetteer 地名库"])


def staff(actor: ActorDep) -> None:
    gazetteer_entries.authorise_read(actor.role)


def admin(actor: ActorDep) -> None:
    gazetteer_entries.authorise_edit(actor.role)


class MatchOut(BaseModel):
    region_code: str
    name: str
    level: str
    level_label: str
    confidence: float
    matched: str
    lon: float | None
    lat: float | None

    @classmethod
    def of(cls, m: gazetteer.PlaceMatch) -> MatchOut:
        return cls(
            region_code=m.region_code,
            name=m.name,
            level=m.level,
            level_label=Level(m.level).zh,
            confidence=m.confidence,
            matched=m.matched,
            lon=m.lon,
            lat=m.lat,
        )


class ResolveOut(BaseModel):
    matches: list[MatchOut]
    ambiguous: bool  # ask the operator (待人工确认)


class EntryIn(BaseModel):
    # Lengths, kinds and ranges are checked by the service, with bilingual messages.
    name: str = Field(max_length=1000)
    region_code: str = Field(max_length=15)
    kind: str = Field(max_length=20)
    lon: float | None = None
    lat: float | None = None


class EntryOut(BaseModel):
    id: int
    name: str
    kind: str
    kind_label: str
    region_code: str
    region_name: str | None
    lon: float | None
    lat: float | None
    created_at: datetime

    @classmethod
    def of(cls, entry: GazetteerEntry, region_name: str | None) -> EntryOut:
        return cls(
            id=entry.id,
            name=entry.name,
            kind=entry.kind,
            kind_label=gazetteer_entries.EntryKind(entry.kind).zh,
            region_code=entry.region_code,
            region_name=region_name,
            lon=entry.lon,
            lat=entry.lat,
            created_at=entry.created_at,
        )


@router.get("/resolve", response_model=ResolveOut, dependencies=[Depends(staff)])
def resolve(
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=gazetteer.MAX_TEXT)],
    limit: Annotated[int, Query(ge=1, le=gazetteer.MAX_LIMIT)] = 3,
) -> ResolveOut:
    matches = gazetteer.resolve(session, q, limit)
    return ResolveOut(
        matches=[MatchOut.of(m) for m in matches], ambiguous=gazetteer.ambiguous(matches)
    )


@router.get("/entries", response_model=Page[EntryOut], dependencies=[Depends(staff)])
def list_entries(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Page[EntryOut]:
    total, rows = gazetteer_entries.list_entries(session, limit, offset, q)
    names = gazetteer_entries.chain_names(session, {r.region_code for r in rows})
    items = [EntryOut.of(r, names.get(r.region_code)) for r in rows]
    return Page(total=total, limit=limit, offset=offset, items=items)


@router.post("/entries", response_model=EntryOut, status_code=201, dependencies=[Depends(admin)])
def add_entry(session: SessionDep, clock: ClockDep, body: EntryIn) -> EntryOut:
    entry = gazetteer_entries.add_entry(
        session, clock, body.name, body.region_code, body.kind, body.lon, body.lat
    )
    names = gazetteer_entries.chain_names(session, [entry.region_code])
    return EntryOut.of(entry, names.get(entry.region_code))


@router.delete("/entries/{entry_id}", status_code=204, dependencies=[Depends(admin)])
def remove_entry(session: SessionDep, entry_id: Annotated[int, Path(ge=1)]) -> None:
    gazetteer_entries.remove_entry(session, entry_id)
