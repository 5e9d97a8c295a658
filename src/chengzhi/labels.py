"""Labelled string enums (zh-CN and en), shared by the models and the pure modules alike
(kept free of SQLAlchemy so worktime and workflow stay pure)."""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members carry zh-CN and en labels:
    `Member = ("value", "中文", "English")`."""

    zh: str
    en: str

    def __new__(cls, value: str, zh: str, en: str) -> LabelledEnum:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh, member.en = zh, en
        return member

    def label(self, locale: str = "zh-CN") -> str:
        return self.en if locale.startswith("en") else self.zh
