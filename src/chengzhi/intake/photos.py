"""Photos sent with an appeal (现场照片): checked by their content, not their name or declared
type, and stored outside the web root under random names (DATA_DIR/files/YYYY/MM/…). Checks run
before anything is stored; the files are written after the case, in its transaction, and removed
again if that transaction rolls back."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from chengzhi.config import get_settings
from chengzhi.errors import InvalidInput
from chengzhi.models import Attachment, Case

MAX_PHOTOS = 9
MAX_BYTES = 5 * 1024 * 1024
# Magic numbers of the formats phones send: (prefix at offset 0, bytes 8–12 or None, type, ext).
FORMATS = (
    (b"\xff\xd8\xff", None, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", None, "image/png", "png"),
    (b"RIFF", b"WEBP", "image/webp", "webp"),
)
WRITTEN = "intake.photos.written"  # files written in this session's transaction


@dataclass(frozen=True, slots=True)
class Photo:
    content: bytes
    content_type: str
    ext: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def check(photos: list[bytes]) -> list[Photo]:
    """Each photo's real type, or InvalidInput naming the photo and what is wrong."""
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"照片最多 {MAX_PHOTOS} 张 (at most {MAX_PHOTOS} photos)")
    checked = []
    for n, content in enumerate(photos, 1):
        if len(content) > MAX_BYTES:
            raise InvalidInput(f"第 {n} 张照片超过 5 MB (photo {n} is larger than 5 MB)")
        kind = next(
            (
                f
                for f in FORMATS
                if content.startswith(f[0]) and (f[1] is None or content[8:12] == f[1])
            ),
            None,
        )
        if kind is None or len(content) < 32:
            raise InvalidInput(
                f"第 {n} 个文件不是 JPEG/PNG/WebP 图片 (file {n} is not a JPEG, PNG or WebP image)"
            )
        checked.append(Photo(content, kind[2], kind[3]))
    return checked


def store(session: Session, case: Case, photos: list[Photo], now: datetime) -> list[Attachment]:
    """Write the files and their rows; a rollback of the transaction removes the files."""
    if not photos:
        return []
    root = get_settings().data_dir / "files"
    folder = Path(f"{now:%Y}") / f"{now:%m}"
    (root / folder).mkdir(parents=True, exist_ok=True)
    _clean_up_on_rollback(session)
    rows = []
    for photo in photos:
        name = folder / f"{secrets.token_urlsafe(18)}.{photo.ext}"
        path = root / name
        path.write_bytes(photo.content)
        session.info.setdefault(WRITTEN, []).append(path)
        rows.append(
            Attachment(
                case_id=case.id,
                content_type=photo.content_type,
                size=len(photo.content),
                sha256=photo.sha256,
                path=name.as_posix(),
                created_at=now,
            )
        )
    session.add_all(rows)
    return rows


def count(session: Session, case: Case) -> int:
    query = select(func.count()).select_from(Attachment).where(Attachment.case_id == case.id)
    return session.scalar(query) or 0


def _clean_up_on_rollback(session: Session) -> None:
    if event.contains(session, "after_rollback", _remove_written):
        return
    event.listen(session, "after_rollback", _remove_written)
    event.listen(session, "after_commit", _forget_written)


def _remove_written(session: Session) -> None:
    for path in session.info.pop(WRITTEN, []):
        path.unlink(missing_ok=True)


def _forget_written(session: Session) -> None:
    session.info.pop(WRITTEN, None)
