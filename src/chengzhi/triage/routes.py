"""/api/v1/triage: the classifier's versions (administrators list them and choose the active one)
and suggestions for one appeal — topic top-3 mapped to the catalogue, request type and urgency —
for the staff who take and dispatch appeals. Training runs in the CLI (`chengzhi triage train`),
where a long fit holds no request."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from chengzhi.auth.routes import ActorDep
from chengzhi.deps import SessionDep
from chengzhi.models import RequestType, TriageModel, Urgency
from chengzhi.triage import store, urgency

router = APIRouter(prefix="/api/v1/triage", tags=["triage 分拣"])


def manager(actor: ActorDep) -> None:
    store.authorise_manage(actor.role)


def staff(actor: ActorDep) -> None:
    store.authorise_classify(actor.role)


class ModelOut(BaseModel):
    version: int
    name: str
    active: bool
    classes: int
    labels: list[str]
    trained_rows: int
    macro_f1: float | None = Field(description="Hold-out macro-F1 (None without a hold-out)")
    metrics: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: TriageModel) -> ModelOut:
        held = (row.metrics or {}).get("holdout") or {}
        return cls(
            version=row.version,
            name=row.name,
            active=row.active,
            classes=len(row.labels),
            labels=row.labels,
            trained_rows=row.trained_rows,
            macro_f1=held.get("macro_f1"),
            metrics=row.metrics or {},
            created_at=row.created_at,
        )


class ClassifyIn(BaseModel):
    title: str | None = Field(None, max_length=200)
    text: str = Field(min_length=1, max_length=10_000)


class SuggestionOut(BaseModel):
    label: str
    confidence: float
    category: str | None = Field(description='The catalogue category, "kind:code"')
    name: str | None = Field(description="The category's name")


class Labelled(BaseModel):
    value: str
    label: str
    label_en: str


class RequestTypeOut(Labelled):
    confidence: float


class UrgencyOut(Labelled):
    reasons: list[Labelled]


class ClassifyOut(BaseModel):
    model_version: int | None = Field(description="The active model (None: no active model)")
    suggestions: list[SuggestionOut]
    request_type: RequestTypeOut
    urgency: UrgencyOut

    @classmethod
    def of(cls, found: store.Triage) -> ClassifyOut:
        kind, level = RequestType(found.request_type), Urgency(found.urgency.level)
        groups = {g.name: g for g in urgency.groups()}
        return cls(
            model_version=found.model_version,
            suggestions=[
                SuggestionOut(
                    label=s.label,
                    confidence=s.confidence,
                    category=":".join(s.category) if s.category else None,
                    name=s.name,
                )
                for s in found.suggestions
            ],
            request_type=RequestTypeOut(
                value=kind.value,
                label=kind.zh,
                label_en=kind.en,
                confidence=found.request_confidence,
            ),
            urgency=UrgencyOut(
                value=level.value,
                label=level.zh,
                label_en=level.en,
                reasons=[
                    Labelled(value=r, label=groups[r].zh, label_en=groups[r].en)
                    for r in found.urgency.reasons
                ],
            ),
        )


@router.get("/models", response_model=list[ModelOut], dependencies=[Depends(manager)])
def list_models(session: SessionDep) -> list[ModelOut]:
    return [ModelOut.of(row) for row in store.list_models(session)]


@router.post("/models/{version}/activate", response_model=ModelOut, dependencies=[Depends(manager)])
def activate(session: SessionDep, version: Annotated[int, Path(ge=1)]) -> ModelOut:
    return ModelOut.of(store.activate(session, version))


@router.post("/classify", response_model=ClassifyOut, dependencies=[Depends(staff)])
def classify(session: SessionDep, body: ClassifyIn) -> ClassifyOut:
    return ClassifyOut.of(store.suggest(session, body.title, body.text))
