"""API shapes for the catalogue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    source: str
    note: str | None
    created_at: datetime
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
