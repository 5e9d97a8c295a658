"""Request type guess (诉求类型): inquiry 咨询, help 求助, complaint 投诉, report 举报,
suggestion 建议 or praise 表扬, from weighted words and patterns in `data/request_types.yaml`.

Pure. A guess for the operator to confirm, not a decision: with no evidence it answers the
file's default (complaint, 投诉) at low confidence.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA_FILE = Path(__file__).with_name("data") / "request_types.yaml"
VALUES = ("inquiry", "help", "complaint", "report", "suggestion", "praise")  # models.RequestType


@dataclass(frozen=True)
class Rule:
    regex: re.Pattern[str]
    weight: float


@dataclass(frozen=True)
class RequestRules:
    types: tuple[tuple[str, tuple[Rule, ...]], ...]  # (value, rules) in tie-break order
    default: str
    default_confidence: float
    prior: float


@cache
def load_rules(path: Path = DATA_FILE) -> RequestRules:
    """The rules in a YAML file, read once per path."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    types = tuple((t["value"], tuple(make_rule(r) for r in t["rules"])) for t in data["types"])
    for value in [v for v, _ in types] + [data["default"]]:
        if value not in VALUES:
            raise ValueError(f"{path}: 未知诉求类型 {value} (unknown request type {value})")
    return RequestRules(
        types, data["default"], float(data["default_confidence"]), float(data.get("prior", 2))
    )


def make_rule(raw: dict[str, Any]) -> Rule:
    terms = sorted(raw.get("terms", ()), key=len, reverse=True)
    alternatives = [re.escape(t) for t in terms] + list(raw.get("patterns", ()))
    return Rule(re.compile("|".join(f"(?:{a})" for a in alternatives)), float(raw["weight"]))


def scores(text: str, rules: RequestRules | None = None) -> dict[str, float]:
    """Each type's score: the sum of the weights of its rules that match the text."""
    rules = rules or load_rules()
    text = unicodedata.normalize("NFKC", text or "").lower()
    return {
        value: sum(rule.weight for rule in type_rules if rule.regex.search(text))
        for value, type_rules in rules.types
    }


def guess_request_type(text: str, rules: RequestRules | None = None) -> tuple[str, float]:
    """(value, confidence in [0, 1]) for one appeal text, e.g. "title。body"."""
    rules = rules or load_rules()
    found = scores(text, rules)
    best = max(found, key=found.__getitem__)  # first listed wins a tie
    if not found[best]:
        return rules.default, rules.default_confidence
    return best, round(found[best] / (sum(found.values()) + rules.prior), 3)
