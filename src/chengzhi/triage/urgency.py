"""Urgency flags (紧急程度): is an appeal about danger to life or property (特急), or a lesser
hazard (紧急)? Keyword groups, negations and hedges are data in `data/urgency.yaml`.

Pure and conservative: a missed gas leak costs more than a false alarm, so a term counts unless
a negation stands right before it (无燃气泄漏, 不是火灾); a hedge before it (随时可能倒塌) or a
risk word after it (火灾隐患) lowers it one level instead of dropping it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DATA_FILE = Path(__file__).with_name("data") / "urgency.yaml"
LEVELS = ("normal", "urgent", "critical")  # 一般, 紧急, 特急; index = severity
PUNCTUATION = re.compile(r"[，。！？；、,.!?;\n]")


@dataclass(frozen=True)
class Group:
    name: str
    zh: str
    en: str
    level: str
    regex: re.Pattern[str]

    @property
    def label(self) -> str:
        return f"{self.zh} ({self.en})"


@dataclass(frozen=True)
class Rules:
    groups: tuple[Group, ...]
    negations: tuple[str, ...]
    negation_gap: int
    hedges: tuple[str, ...]
    hedge_gap: int
    risk_words: tuple[str, ...]


@dataclass(frozen=True)
class Assessment:
    """The level ("critical" | "urgent" | "normal") and the names of the groups that matched,
    most severe first."""

    level: str
    reasons: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Loading


@cache
def load_rules(path: Path = DATA_FILE) -> Rules:
    """The rules in a YAML file, read once per path."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups = tuple(make_group(g, path) for g in data["groups"])
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: 分组名重复 (duplicate group names)")
    return Rules(
        groups=groups,
        negations=tuple(data.get("negations", ())),
        negation_gap=int(data.get("negation_gap", 1)),
        hedges=tuple(data.get("hedges", ())),
        hedge_gap=int(data.get("hedge_gap", 4)),
        risk_words=tuple(data.get("risk_words", ())),
    )


def make_group(raw: dict[str, Any], path: Path) -> Group:
    name = raw.get("name", "?")
    if raw.get("level") not in LEVELS[1:]:
        raise ValueError(
            f"{path}: 分组 {name} 的级别须为 critical 或 urgent "
            f"(group {name}: level must be critical or urgent)"
        )
    terms = sorted(raw.get("terms", ()), key=len, reverse=True)  # longest first
    alternatives = [re.escape(t) for t in terms] + list(raw.get("patterns", ()))
    if not alternatives:
        raise ValueError(f"{path}: 分组 {name} 没有词语 (group {name} has no terms)")
    try:
        regex = re.compile("|".join(f"(?:{a})" for a in alternatives))
    except re.error as e:
        raise ValueError(f"{path}: 分组 {name} 的正则有误 (group {name}: bad pattern: {e})") from e
    return Group(name, raw.get("zh", name), raw.get("en", name), raw["level"], regex)


def groups() -> tuple[Group, ...]:
    """The default groups, for labels: `{g.name: g.label for g in groups()}`."""
    return load_rules().groups


# ---------------------------------------------------------------------------------------------
# Assessing


def assess(text: str, rules: Rules | None = None) -> Assessment:
    """The urgency of one appeal text (title and body together, e.g. "title。body")."""
    rules = rules or load_rules()
    text = unicodedata.normalize("NFKC", text or "").lower()
    found: list[tuple[int, int, str]] = []  # (severity, group order, name)
    for order, group in enumerate(rules.groups):
        severity = max(
            (severity_of(m, text, group, rules) for m in group.regex.finditer(text)), default=0
        )
        if severity:
            found.append((severity, -order, group.name))
    if not found:
        return Assessment("normal")
    found.sort(reverse=True)
    return Assessment(LEVELS[found[0][0]], tuple(name for _, _, name in found))


def severity_of(match: re.Match[str], text: str, group: Group, rules: Rules) -> int:
    """0 when negated; the group's level, one lower when hedged or followed by a risk word."""
    start, end = match.span()
    if ends_near(text, start, rules.negations, rules.negation_gap):
        return 0
    severity = LEVELS.index(group.level)
    if ends_near(text, start, rules.hedges, rules.hedge_gap) or names_a_risk(
        text, end, rules.risk_words
    ):
        severity -= 1
    return severity


def ends_near(text: str, start: int, words: tuple[str, ...], gap: int) -> bool:
    """Whether one of `words` ends at most `gap` characters before `start`, in the same clause."""
    longest = max(map(len, words), default=0)
    prefix = text[max(0, start - gap - longest) : start]
    prefix = PUNCTUATION.split(prefix)[-1]
    for word in words:
        at = prefix.rfind(word)
        if at >= 0 and len(prefix) - at - len(word) <= gap:
            return True
    return False


def names_a_risk(text: str, end: int, risk_words: tuple[str, ...]) -> bool:
    """火灾隐患, 倒塌的危险: the term names a risk, not an event."""
    after = text[end : end + 8]
    after = after[1:] if after.startswith("的") else after
    return after.startswith(risk_words)
