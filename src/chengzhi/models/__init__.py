"""All ORM models, one module per aggregate. Import models from here."""

from chengzhi.models.base import Base, LabelledEnum, UTCDateTime
from chengzhi.models.catalog import CatalogVersion, Category
from chengzhi.models.org import GridAssignment, GridDuty, OrgUnit, Person, Role, UnitKind
from chengzhi.models.region import Level, Region, RegionKind, StructureState

__all__ = [
    "Base",
    "CatalogVersion",
    "Category",
    "GridAssignment",
    "GridDuty",
    "LabelledEnum",
    "Level",
    "OrgUnit",
    "Person",
    "Region",
    "RegionKind",
    "Role",
    "StructureState",
    "UTCDateTime",
    "UnitKind",
]
