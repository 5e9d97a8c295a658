"""All ORM models, one module per aggregate. Import models from here."""

from chengzhi.models.auth import LoginSession
from chengzhi.models.base import Base, LabelledEnum, UTCDateTime
from chengzhi.models.calendar import CalendarDay
from chengzhi.models.case import Case, CaseEvent, Channel, RequestType, Urgency
from chengzhi.models.catalog import CatalogVersion, Category
from chengzhi.models.intake import (
    ApiClient,
    Attachment,
    GazetteerEntry,
    IntakeKey,
    KnowledgeArticle,
    TriageModel,
)
from chengzhi.models.job import Job, JobStatus
from chengzhi.models.org import (
    DESK,
    NOT_STAFF,
    GridAssignment,
    GridDuty,
    OrgUnit,
    Person,
    Role,
    UnitKind,
)
from chengzhi.models.region import Level, Region, RegionKind, StructureState
from chengzhi.models.task import CaseTask, TaskKind, TaskState

__all__ = [
    "DESK",
    "NOT_STAFF",
    "TriageModel",
    "KnowledgeArticle",
    "IntakeKey",
    "GazetteerEntry",
    "Attachment",
    "ApiClient",
    "Base",
    "CalendarDay",
    "Case",
    "CaseEvent",
    "CaseTask",
    "Channel",
    "CatalogVersion",
    "Category",
    "GridAssignment",
    "GridDuty",
    "Job",
    "JobStatus",
    "LabelledEnum",
    "LoginSession",
    "Level",
    "OrgUnit",
    "Person",
    "Region",
    "RequestType",
    "RegionKind",
    "Role",
    "StructureState",
    "TaskKind",
    "TaskState",
    "UTCDateTime",
    "UnitKind",
    "Urgency",
]
