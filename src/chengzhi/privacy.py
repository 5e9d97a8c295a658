"""Masking of personal data (个人信息脱敏). Every way out (API, export, log) shows these forms
unless a permitted reveal is recorded (trust issue)."""

from __future__ import annotations

COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙")


def mask_name(name: str | None) -> str | None:
    """张三 → 张*, 欧阳娜娜 → 欧阳**: the surname stays, the given name goes."""
    if not name:
        return name
    keep = 2 if name.startswith(COMPOUND_SURNAMES) and len(name) > 2 else 1
    return name[:keep] + "*" * max(1, len(name) - keep)


def mask_phone(phone: str | None) -> str | None:
    """13812341234 → 138****1234; short numbers keep only their last two digits."""
    if not phone:
        return phone
    if len(phone) >= 11:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * max(0, len(phone) - 2) + phone[-2:]


def mask_id_number(number: str | None) -> str | None:
    """500101199001011234 → 5001**********1234."""
    if not number:
        return number
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]
