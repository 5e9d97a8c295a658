"""Bulk import of historical orders: real CSV (UTF-8, GB18030) and Excel files of Chinese orders
imported into a small demo city, committing per batch as the command does — so the city lives in
a database of this module's own (a SQLite file, or a throw-away PostgreSQL database)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from chengzhi import db
from chengzhi.catalog import service as catalog
from chengzhi.cli.main import app
from chengzhi.clock import FrozenClock
from chengzhi.demo import build, plan
from chengzhi.errors import InvalidInput
from chengzhi.intake.importer import CHANGED, import_appeals
from chengzhi.intake.importer_rows import parse_mapping
from chengzhi.models import Case, CaseEvent, Category, IntakeKey, Region
from tests.conftest import PG_URL, throwaway_pg_database

CLOCK = FrozenClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
HEADER = [
    "工单编号",
    "受理时间",
    "标题",
    "诉求内容",
    "诉求类型",
    "经度",
    "纬度",
    "来电人",
    "联系电话",
]
MAPPING = [
    "工单编号=source_ref",
    "受理时间=time",
    "标题=title",
    "诉求内容=text",
    "诉求类型=request_type",
    "经度=lon",
    "纬度=lat",
    "来电人=reporter_name",
    "联系电话=reporter_phone",
]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, list[tuple]]]:
    """The small demo city with the default catalogue; and a point inside each of a few grids."""
    with ExitStack() as stack:
        if PG_URL:
            url = stack.enter_context(throwaway_pg_database("chengzhi_import"))
        else:
            url = f"sqlite:///{tmp_path_factory.mktemp('import') / 'import.db'}"
        db.migrate(url)
        engine = db.make_engine(url)
        city_plan = plan.plan_city("small", 11)
        with db.transaction(engine) as session:
            build.store_city(session, city_plan, CLOCK)
            catalog.install_defaults(session, CLOCK)
        grids = [r for r in city_plan.regions if r.level == "grid"][:6]
        points = [(p.x, p.y) for p in (g.polygon.representative_point() for g in grids)]
        yield engine, points
        engine.dispose()


def orders(tag: str, points: list[tuple], n: int = 4) -> list[list[str]]:
    """`n` distinct orders of spring 2025, with coordinates in the city."""
    texts = [
        ("楼下垃圾堆积", "幸福路{i}号门口垃圾已经堆了三天没人清运，天热气味很大，希望尽快处理。"),
        ("夜间施工噪音扰民", "人民路{i}号工地每天晚上十一点以后还在施工，噪音很大，影响休息。"),
        ("车辆乱停堵住消防通道", "建设路{i}号门口经常有车辆乱停，堵住了消防通道，请交警处理。"),
        ("小区突然停水", "解放路{i}号从早上开始停水，没有看到任何通知，家里老人做饭都成问题。"),
    ]
    rows = []
    for i in range(n):
        title, text = texts[i % len(texts)]
        lon, lat = points[i % len(points)]
        rows.append(
            [
                f"{tag}-{i + 1:04d}",
                f"2025-03-{i % 28 + 1:02d} 08:{i % 60:02d}:00",
                title,
                text.format(i=i + 1),
                "投诉",
                f"{lon:.6f}",
                f"{lat:.6f}",
                "张三",
                "13800138000",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8", header=HEADER) -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run(engine: Engine, path: Path, mapping=MAPPING, **options):
    return import_appeals(engine, path, mapping, clock=CLOCK, **options)


def stored(engine: Engine, tag: str) -> list[Case]:
    with db.transaction(engine) as session:
        return list(
            session.scalars(
                select(Case).where(Case.source_ref.like(f"{tag}-%")).order_by(Case.source_ref)
            )
        )


def test_a_utf8_csv_lands_every_order_with_its_historical_time(city, tmp_path):
    engine, points = city
    path = write_csv(tmp_path / "utf8-orders.csv", orders("U8", points))
    report = run(engine, path)
    assert (report.rows, report.imported, report.skipped, report.rejected) == (4, 4, 0, [])
    assert report.encoding == "utf-8" and report.source == "utf8-orders.csv"
    cases = stored(engine, "U8")
    assert [c.source_ref for c in cases] == ["U8-0001", "U8-0002", "U8-0003", "U8-0004"]
    first = cases[0]
    # 2025-03-01 08:00 in Shanghai is 00:00 UTC
    assert first.registered_at == datetime(2025, 3, 1, 0, 0, tzinfo=UTC)
    assert (first.channel, first.request_type, first.status) == (
        "import",
        "complaint",
        "registered",
    )
    assert first.title == "楼下垃圾堆积" and "幸福路1号" in first.description
    assert (first.reporter_name, first.reporter_phone) == ("张三", "13800138000")
    assert first.region_code is not None and first.lon is not None
    with db.transaction(engine) as session:
        event = session.scalar(select(CaseEvent).where(CaseEvent.case_id == first.id))
    assert (event.action, event.role, event.actor_id) == ("register", "operator", None)
    assert event.at == first.registered_at


def test_a_gb18030_export_is_read_as_such(city, tmp_path):
    engine, points = city
    path = write_csv(tmp_path / "gbk-orders.csv", orders("GB", points), "gb18030")
    with pytest.raises(UnicodeDecodeError):
        path.read_text("utf-8")  # a real GB18030 file, not UTF-8 in disguise
    report = run(engine, path)
    assert report.encoding == "gb18030" and report.imported == 4
    assert stored(engine, "GB")[1].title == "夜间施工噪音扰民"


def test_an_excel_workbook_keeps_numbers_and_dates_as_excel_gives_them(city, tmp_path):
    engine, points = city
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "时间", "内容", "经度", "纬度", "坐标系", "紧急程度", "事项"])
    (lon, lat), (lon2, lat2) = points[:2]
    sheet.append(
        [
            2025030500001,
            datetime(2025, 3, 5, 8, 30),
            "路灯不亮。晚上很黑，走路不安全",
            lon,
            lat,
            "WGS84",
            "紧急",
            "matter:06010",
        ]
    )
    sheet.append([None, None, None, None, None, None, None, None])  # a blank row: not an order
    sheet.append(
        [2025030500002, "2025/3/5 9:05", "井盖缺失，有人差点掉下去", lon2, lat2, None, "特急", None]
    )
    path = tmp_path / "orders.xlsx"
    book.save(path)
    mapping = {
        "source_ref": "编号",
        "time": "时间",
        "text": "内容",
        "lon": "经度",
        "lat": "纬度",
        "crs": "坐标系",
        "urgency": "紧急程度",
        "category": "事项",
    }
    report = run(engine, path, mapping, source="xlsx-test")
    assert (report.rows, report.imported, report.rejected) == (2, 2, [])
    with db.transaction(engine) as session:
        cases = session.scalars(
            select(Case).where(Case.source_ref.like("20250305000%")).order_by(Case.source_ref)
        ).all()
        category = session.get(Category, cases[0].category_id)
        assert (category.kind, category.code) == ("matter", "06010")
    assert [c.source_ref for c in cases] == ["2025030500001", "2025030500002"]
    assert cases[0].registered_at == datetime(2025, 3, 5, 0, 30, tzinfo=UTC)
    assert cases[1].registered_at == datetime(2025, 3, 5, 1, 5, tzinfo=UTC)
    assert [c.urgency for c in cases] == ["urgent", "critical"]
    assert cases[0].title == "路灯不亮"  # the first clause, as intake makes a title


def test_mapping_mistakes_are_refused_before_anything_is_stored(city, tmp_path):
    engine, points = city
    path = write_csv(tmp_path / "mapping.csv", orders("MAP", points))
    with pytest.raises(InvalidInput, match="unknown field"):
        parse_mapping(["诉求内容=text", "受理时间=registered"])
    with pytest.raises(InvalidInput, match="mapped twice"):
        parse_mapping(["诉求内容=text", "标题=text"])
    with pytest.raises(InvalidInput, match="map a column to text"):
        parse_mapping(["标题=title"])
    with pytest.raises(InvalidInput, match="column=field"):
        parse_mapping(["诉求内容"])
    with pytest.raises(InvalidInput, match="处理结果") as missing:
        run(engine, path, ["诉求内容=text", "处理结果=title"])
    assert "not in the header" in missing.value.message
    with pytest.raises(InvalidInput, match="unsupported file type"):
        run(engine, path.rename(tmp_path / "mapping.txt"))
    with pytest.raises(InvalidInput, match="no such file"):
        run(engine, tmp_path / "absent.csv")
    assert stored(engine, "MAP") == []


def test_a_row_the_csv_reader_cannot_parse_stops_the_import_naming_it(city, tmp_path):
    engine, points = city
    rows = orders("HUGE", points, 3)
    rows[2][3] = "噪音" * 70_000  # beyond the csv module's field limit (131,072 characters)
    path = write_csv(tmp_path / "huge.csv", rows)
    with pytest.raises(InvalidInput, match="row 4: malformed CSV"):
        run(engine, path)
    assert stored(engine, "HUGE") == []  # the batch it was in never started
    assert run(engine, path, limit=2).imported == 2


def test_bad_rows_become_report_lines_and_the_rest_lands(city, tmp_path):
    engine, points = city
    rows = orders("BAD", points, 10)
    rows[1][3] = "   "  # row 3: no content
    rows[2][5:7] = ["0.000000", "0.000000"]  # row 4: off the coast of Africa
    rows[3][5] = "东经117度"  # row 5: not a number
    rows[4][1] = "去年春天"  # row 6: not a time
    rows[5][4] = "催办"  # row 7: not a request type
    rows[6][1] = "2027-01-01 08:00:00"  # row 8: after the import's now
    rows[7][8] = "1" * 25  # row 9: longer than a phone number can be
    path = write_csv(tmp_path / "bad.csv", rows)
    report = run(engine, path, [*MAPPING])
    assert report.rows == 10 and report.imported == 3
    assert [n for n, _ in report.rejected] == [3, 4, 5, 6, 7, 8, 9]
    reasons = dict(report.rejected)
    assert "must not be empty" in reasons[3]
    assert "outside the city" in reasons[4]
    assert "not a number" in reasons[5]
    assert "time not understood" in reasons[6]
    assert "咨询/求助/投诉/举报/建议/表扬" in reasons[7]
    assert "future" in reasons[8]
    assert "reporter_phone longer than 20" in reasons[9]
    for _, reason in report.rejected:  # the report names the row, never its personal data
        assert "张三" not in reason and "13800138000" not in reason and "路" not in reason
    assert [c.source_ref for c in stored(engine, "BAD")] == ["BAD-0001", "BAD-0009", "BAD-0010"]
    with db.transaction(engine) as session:  # nothing half-stored: no key without its case
        keys = session.scalar(
            select(func.count()).select_from(IntakeKey).where(IntakeKey.scope == "import:bad.csv")
        )
    assert keys == 3


def test_an_unknown_category_is_refused_and_a_name_is_looked_up(city, tmp_path):
    engine, points = city
    rows = orders("CAT", points, 3)
    header = [*HEADER, "分类"]
    rows[0].append("matter:99999")
    rows[1].append("私搭乱建")  # a name of the current catalogue
    rows[2].append("不存在的分类")
    path = write_csv(tmp_path / "categories.csv", rows, header=header)
    with db.transaction(engine) as session:
        version = catalog.current_version(session)
        named = session.execute(
            select(Category.kind, Category.code).where(
                Category.version_id == version.id, Category.name == "私搭乱建"
            )
        ).all()
    assert len(named) == 1, "the test needs a name the catalogue holds once"
    report = run(engine, path, [*MAPPING, "分类=category"])
    assert report.imported == 1
    assert [n for n, _ in report.rejected] == [2, 4]
    assert (
        "99999" in report.rejected[0][1] and "not in the current catalogue" in report.rejected[1][1]
    )
    [case] = stored(engine, "CAT")
    with db.transaction(engine) as session:
        category = session.get(Category, case.category_id)
    assert (category.kind, category.code) == tuple(named[0])


def test_a_rerun_duplicates_nothing_and_counts_what_it_skipped(city, tmp_path):
    engine, points = city
    rows = orders("AGAIN", points, 5)
    rows.append(list(rows[0]))  # the same order twice in the file: one case
    path = write_csv(tmp_path / "again.csv", rows)
    first = run(engine, path, batch=2)
    assert (first.imported, first.skipped, first.rejected) == (5, 1, [])
    second = run(engine, path, batch=2)
    assert (second.rows, second.imported, second.skipped, second.rejected) == (6, 0, 6, [])
    assert len(stored(engine, "AGAIN")) == 5
    rows[2][3] = "内容被改过的工单，同一个编号"  # the same order number, different content
    changed = run(engine, write_csv(path, rows))
    assert changed.skipped == 5 and changed.rejected == [(4, CHANGED)]
    assert len(stored(engine, "AGAIN")) == 5


def test_orders_without_a_number_are_keyed_by_their_content(city, tmp_path):
    engine, points = city
    rows = [row[1:] for row in orders("NONUM", points, 3)]
    path = write_csv(tmp_path / "nonum.csv", rows, header=HEADER[1:])
    mapping = [m for m in MAPPING if not m.endswith("source_ref")]
    assert run(engine, path, mapping).imported == 3
    again = run(engine, path, mapping)
    assert (again.imported, again.skipped) == (0, 3)
    with db.transaction(engine) as session:
        keys = session.scalars(
            select(IntakeKey.key).where(IntakeKey.scope == "import:nonum.csv")
        ).all()
    assert len(keys) == 3 and all(k.startswith("sha256:") for k in keys)


class Crash(Exception):
    """The power goes out between two batches."""


def test_a_crashed_import_is_resumed_by_running_it_again(city, tmp_path):
    engine, points = city
    path = write_csv(tmp_path / "crash.csv", orders("CRASH", points, 7))

    def crash_after_the_first_batch(done: int, total: int) -> None:
        if done:
            raise Crash

    with pytest.raises(Crash):
        run(engine, path, batch=3, on_progress=crash_after_the_first_batch)
    assert len(stored(engine, "CRASH")) == 3  # the first batch committed
    partial = run(engine, path, limit=5)  # a trial run of the first rows
    assert (partial.rows, partial.imported, partial.skipped) == (5, 2, 3)
    seen: list[tuple[int, int]] = []
    rest = run(engine, path, batch=3, on_progress=lambda d, t: seen.append((d, t)))
    assert (rest.rows, rest.imported, rest.skipped) == (7, 2, 5)
    assert seen == [(0, 7), (3, 7), (6, 7), (7, 7)]
    cases = stored(engine, "CRASH")
    assert [c.source_ref for c in cases] == [f"CRASH-{i:04d}" for i in range(1, 8)]


def test_the_command_imports_reports_and_resumes(cli_env, tmp_path):
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert cli("init").exit_code == 0
    assert cli("demo-city", "--scale", "small", "--seed", "2").exit_code == 0
    with db.transaction() as session:
        points = session.execute(
            select(Region.label_lon, Region.label_lat).where(Region.level == "grid").limit(4)
        ).all()
    rows = orders("CLI", [tuple(p) for p in points], 6)
    rows[2][3] = ""  # row 4: no content
    path = write_csv(tmp_path / "历史工单.csv", rows, "gb18030")
    maps = [a for m in MAPPING for a in ("--map", m)]
    result = cli("appeals", "import", str(path), *maps, "--batch", "4")
    assert result.exit_code == 0, result.output
    assert "gb18030" in result.output and "imported" in result.output
    report = tmp_path / "历史工单.csv.rejected.csv"
    lines = report.read_text("utf-8-sig").splitlines()
    assert lines[0] == "source,where,reason" and lines[1].startswith("历史工单.csv,row 4,")
    assert len(lines) == 2 and "张三" not in report.read_text("utf-8-sig")
    rows[2][3] = "补录的内容：小区门口路灯坏了一个月"
    again = cli("appeals", "import", str(write_csv(path, rows, "gb18030")), *maps)
    assert again.exit_code == 0 and not report.exists()  # a clean re-run leaves no stale report
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 6
    unknown = cli("appeals", "import", str(path), "--map", "诉求内容=content")
    assert unknown.exit_code == 1 and "unknown field" in unknown.output
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")
    unreadable = cli("appeals", "import", str(broken), "--map", "诉求内容=text")
    assert unreadable.exit_code == 1 and "cannot read the workbook" in unreadable.output
