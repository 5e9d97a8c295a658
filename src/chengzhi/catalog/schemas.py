"""API shapes for the catalogue. Edits are checked by the catalogue loader (one rule set for
files and the API), so these shapes check JSON types only: strictly, so that `"yes"` is not
quietly read as true, nor `"2"` as a number."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Note = Annotated[
    str | None, Field(max_length=2000, description="Why this version was made (版本说明)")
]
BasedOn = Annotated[
    int | None,
    Field(
        ge=1,
        description="The version number the change was made from; refused (409) once another "
        "version is current",
    ),
]


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    source: str
    note: str | None
    created_at: datetime
    created_by_id: int | None
    categories: int


class CategoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    kind: str
    code: str
    parent_code: str | None
    path: list[str]
    is_leaf: bool
    name: str
    name_en: str
    handling_level: str
    sector: str | None
    limits: dict[str, Any]
    urgent_limits: dict[str, Any]
    critical_limits: dict[str, Any]
    whistle: bool
    reopen: bool
    duty_list: str
    legal_basis: str | None
    keywords: list[str]


class VersionIn(BaseModel):
    """A whole catalogue: documents in the shape of the YAML export (`title`, `defaults`,
    `components`/`matters`/`topics`), as JSON."""

    model_config = ConfigDict(extra="forbid")

    note: Note = None
    based_on: BasedOn = None
    documents: list[dict[str, Any]] = Field(min_length=1, max_length=50)


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: StrictInt | StrictFloat
    unit: StrictStr = Field(description="working_hours, working_days, hours or minutes")


class CategoryPatch(BaseModel):
    """Some attributes of one category; those left out keep their values. `sector: null` means
    territorial handling (属地). Limits are per stage (dispatch, sign, handle, verify) and merge:
    `{"limits": {"handle": …}}` keeps the other three stages."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "limits": {"handle": {"amount": 2, "unit": "working_hours"}},
                    "note": "区城管委 2026 年立结案标准",
                }
            ]
        },
    )

    name: StrictStr | None = None
    name_en: StrictStr | None = None
    handling_level: StrictStr | None = None
    sector: StrictStr | None = None
    duty_list: StrictStr | None = None
    whistle: StrictBool | None = None
    reopen: StrictBool | None = None
    legal_basis: StrictStr | None = None
    limits: dict[str, LimitIn] | None = None
    urgent_limits: dict[str, LimitIn] | None = None
    critical_limits: dict[str, LimitIn] | None = None
    keywords: list[StrictStr] | None = None
    note: Note = None
    based_on: BasedOn = None

    def changes(self) -> dict[str, Any]:
        """The attributes given, an explicit null included (the loader decides if it may be)."""
        return self.model_dump(exclude_unset=True, exclude={"note", "based_on"})


class CategoryEdited(BaseModel):
    version: VersionOut
    category: CategoryOut
