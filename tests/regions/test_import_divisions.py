from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from chengzhi.errors import ImportRejected, InvalidInput
from chengzhi.models import Level, Region
from chengzhi.regions import queries, service
from tests.conftest import shared_file

TIANJIN = "admin_divisions_tianjin_2021.csv"


def write(tmp_path: Path, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / "codes.csv"
    path.write_bytes(text.encode(encoding))
    return path


def count(session, level: Level) -> int:
    return session.scalar(select(func.count()).where(Region.level == level.value))


def test_the_real_tianjin_file_lands_with_the_published_counts(session):
    report = service.import_divisions(session, shared_file(TIANJIN))
    assert (count(session, Level.CITY), count(session, Level.DISTRICT)) == (1, 16)
    assert (count(session, Level.STREET), count(session, Level.COMMUNITY)) == (297, 5573)
    assert report.skipped_placeholders == 1  # 1201 市辖区
    assert report.problems == []
    heping = session.scalar(select(Region).where(Region.code == "120101"))
    assert heping.name == "和平区" and heping.parent.code == "12"


def test_everything_under_a_street_is_one_range_predicate(session):
    service.import_divisions(session, shared_file(TIANJIN))
    street = session.scalar(select(Region).where(Region.code == "120101001"))
    under = session.scalars(select(Region.code).where(Region.under(street.code))).all()
    assert street.code in under and len(under) > 1
    assert all(code.startswith("120101001") for code in under)
    children = session.scalar(select(func.count()).where(Region.parent_id == street.id))
    assert len(under) == children + 1
    assert "120101002" not in under


def test_a_reimport_changes_nothing_and_renames_in_place(session, tmp_path):
    service.import_divisions(session, shared_file(TIANJIN))
    again = service.import_divisions(session, shared_file(TIANJIN))
    assert sum(again.created.values()) == 0 and again.updated == 0
    renamed = write(tmp_path, "code,name\n12,天津市\n120101,和平新区\n")
    report = service.import_divisions(session, renamed)
    assert report.updated == 1
    assert queries.get_region(session, "120101").name == "和平新区"


def test_a_gb18030_file_reads_the_same_as_utf8(session, tmp_path):
    text = "统计用区划代码,名称\n12,天津市\n1201,市辖区\n120101,和平区\n120101001,劝业场街道\n"
    report = service.import_divisions(session, write(tmp_path, text, "gb18030"))
    assert report.encoding == "gb18030"
    assert queries.get_region(session, "120101001").name == "劝业场街道"


def test_twelve_digit_padded_codes_import_at_their_levels(session, tmp_path):
    text = (
        "code,name\n500000000000,重庆市\n500100000000,市辖区\n500103000000,渝中区\n"
        "500103001000,七星岗街道\n500103001001,金汤街社区\n"
    )
    service.import_divisions(session, write(tmp_path, text))
    region = queries.get_region(session, "500103001001")
    assert region.level == "community" and region.parent.code == "500103001"


def test_a_prefecture_root_picks_one_city_out_of_a_province(session, tmp_path):
    text = (
        "code,name\n64,宁夏回族自治区\n6401,银川市\n640101,市辖区\n640104,兴庆区\n"
        "6402,石嘴山市\n640202,大武口区\n"
    )
    report = service.import_divisions(session, write(tmp_path, text), root="6401")
    assert queries.get_region(session, "6401").level == "city"
    assert queries.get_region(session, "640104").parent.code == "6401"
    assert report.skipped_outside_root == 3  # 64, 6402, 640202


def test_without_root_an_ambiguous_province_is_refused(session, tmp_path):
    text = "code,name\n64,宁夏回族自治区\n6401,银川市\n6402,石嘴山市\n"
    with pytest.raises(InvalidInput, match="--root"):
        service.import_divisions(session, write(tmp_path, text))


BAD = (
    "code,name\n12,天津市\n120101,和平区\n"
    "120101001,劝业场街道\n"
    "120101001,重复街道\n"  # line 5: duplicate
    "12010x002,坏代码\n"  # line 6: not digits
    "120199001,孤儿街道\n"  # line 7: district 120199 missing
    "120199001001,孤儿社区\n"  # its parent is refused too
    "120101002,\n"  # line 9: no name
)


def test_bad_rows_are_named_by_line_and_nothing_lands(session, tmp_path):
    path = write(tmp_path, BAD)
    with pytest.raises(ImportRejected) as caught:
        service.import_divisions(session, path)
    where = {p.where: p.reason for p in caught.value.problems}
    assert "duplicate" in where["line 5"] and "line 4" in where["line 5"]
    assert "digits" in where["line 6"]
    assert "orphan" in where["code 120199001"] and "orphan" in where["code 120199001001"]
    assert "empty name" in where["line 9"]
    assert all(p.source == str(path) for p in caught.value.problems)
    assert session.scalar(select(func.count()).select_from(Region)) == 0


def test_skip_bad_lands_the_good_rows_and_reports_the_rest(session, tmp_path):
    report = service.import_divisions(session, write(tmp_path, BAD), skip_bad=True)
    assert len(report.problems) == 5
    assert session.scalars(select(Region.code).order_by(Region.code)).all() == [
        "12",
        "120101",
        "120101001",
    ]


def test_a_file_that_is_not_a_division_list_is_refused(session, tmp_path):
    with pytest.raises(InvalidInput, match="missing columns"):
        service.import_divisions(session, write(tmp_path, "id,title\n1,hello\n"))
    with pytest.raises(InvalidInput, match="empty"):
        service.import_divisions(session, write(tmp_path, ""))
    with pytest.raises(InvalidInput, match="no such file"):
        service.import_divisions(session, tmp_path / "missing.csv")


def test_the_subtree_predicate_is_answered_from_the_code_index(session):
    service.import_divisions(session, shared_file(TIANJIN))
    query = select(Region.id).where(Region.under("120101001"))
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(session.scalars(text(f"EXPLAIN {compiled}")))
        assert "Index" in plan and "uq_regions_code" in plan, plan
    else:  # the unique constraint's index is SQLite's autoindex on code
        plan = " ".join(r[-1] for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert "INDEX sqlite_autoindex_regions_1 (code>? AND code<?)" in plan, plan


def test_progress_is_reported_up_to_the_whole_file(session):
    seen: list[tuple[int, int]] = []
    service.import_divisions(session, shared_file(TIANJIN), on_progress=lambda *p: seen.append(p))
    assert seen[-1] == (5887, 5887)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
