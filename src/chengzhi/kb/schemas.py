"""API shapes for the knowledge base. Lengths, emptiness and categories are checked by the
service (one rule set for the API and files, with bilingual messages), so these shapes check
JSON types only, strictly, with a generous cap on size."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

Text = Annotated[StrictStr, Field(max_length=20_000)]
Code = Annotated[
    StrictStr | None, Field(max_length=40, description="kind:code in the current catalogue")
]


class ArticleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    question: str = Field(description="How residents ask it, one phrasing a line")
    answer: str
    category_code: str | None
    source: str | None
    active: bool
    updated_at: datetime


class ArticleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Text
    question: Text = Field(description="How residents ask it, one phrasing a line")
    answer: Text
    category_code: Code = None
    source: Text | None = None


class ArticlePatch(BaseModel):
    """Only the fields given change; `category_code` or `source` null clears it, `active` true
    brings a deactivated article back."""

    model_config = ConfigDict(extra="forbid")

    title: Text | None = None
    question: Text | None = None
    answer: Text | None = None
    category_code: Code = None
    source: Text | None = None
    active: StrictBool | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AnswerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    article_id: int
    title: str
    answer: str
    score: float = Field(description="Cosine similarity with the inquiry, 0–1")
