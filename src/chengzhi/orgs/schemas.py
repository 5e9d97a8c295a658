"""API shapes for org units and people. Personal data leaves masked."""

from __future__ import annotations

from pydantic import BaseModel, Field

from chengzhi.models import OrgUnit, Person, Role, UnitKind
from chengzhi.privacy import mask_name, mask_phone


class OrgUnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    kind_label: str
    sector: str | None
    jurisdiction_code: str
    jurisdiction_name: str
    active: bool

    @classmethod
    def of(cls, u: OrgUnit) -> OrgUnitOut:
        return cls(
            id=u.id,
            code=u.code,
            name=u.name,
            kind=u.kind,
            kind_label=UnitKind(u.kind).zh,
            sector=u.sector,
            jurisdiction_code=u.jurisdiction.code,
            jurisdiction_name=u.jurisdiction.name,
            active=u.active,
        )


class PersonOut(BaseModel):
    id: int
    name: str | None = Field(description="Masked: 张*")
    phone: str | None = Field(description="Masked: 138****1234")
    role: str
    role_label: str
    org_unit_code: str | None
    org_unit_name: str | None
    active: bool

    @classmethod
    def of(cls, p: Person) -> PersonOut:
        return cls(
            id=p.id,
            name=mask_name(p.name),
            phone=mask_phone(p.phone),
            role=p.role,
            role_label=Role(p.role).zh,
            org_unit_code=p.org_unit.code if p.org_unit else None,
            org_unit_name=p.org_unit.name if p.org_unit else None,
            active=p.active,
        )
