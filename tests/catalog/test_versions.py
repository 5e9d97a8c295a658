"""The catalogue in the database: versions, export and re-import, the API."""

from dataclasses import replace

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from chengzhi.catalog import defaults, service
from chengzhi.catalog.defaults import CatalogError
from chengzhi.errors import InvalidInput
from chengzhi.models import Category


@pytest.fixture
def installed(session, clock):
    return service.install_defaults(session, clock)


def stored(session, number: int) -> list[defaults.Category]:
    version = service.version_by_number(session, number)
    rows = session.scalars(
        select(Category).where(Category.version_id == version.id).order_by(Category.id)
    )
    return [service.as_category(r) for r in rows]


def rules(categories):
    """Everything that decides how a case is handled; notes are commentary and may regroup."""
    return [replace(c, notes=("\n".join(c.notes),), source="") for c in categories]


def test_defaults_install_once_as_version_one(session, clock, installed):
    assert installed.number == 1 and installed.categories == len(defaults.load_default_catalog())
    assert service.install_defaults(session, clock) is None
    garbage = next(c for c in stored(session, 1) if c.code == "06010" and c.kind.value == "matter")
    assert garbage.name == "暴露垃圾" and garbage.limits.handle.amount == 4


@pytest.mark.parametrize("suffix", [".yaml", ".xlsx"])
def test_an_exported_catalogue_reimports_to_the_same_rules(
    session, clock, installed, tmp_path, suffix
):
    path = tmp_path / f"catalog{suffix}"
    service.export_catalog(session, path)
    version = service.import_catalog(session, clock, path, note="round trip")
    assert version.number == 2
    assert rules(stored(session, 2)) == rules(stored(session, 1))


def test_excel_export_is_formatted_for_officials(session, installed, tmp_path):
    path = tmp_path / "c.xlsx"
    service.export_catalog(session, path)
    book = load_workbook(path)
    sheet = book["事项清单"]
    assert sheet.freeze_panes == "D2" and sheet["A1"].font.bold
    assert [c.value for c in book["说明"]["A"]][:2] == ["列 column", "title"]


def test_a_new_version_leaves_the_old_rules_in_place(session, clock, installed, tmp_path):
    path = tmp_path / "c.xlsx"
    service.export_catalog(session, path)
    book = load_workbook(path)
    sheet = book["事项清单"]
    header = [c.value for c in sheet[1]]
    code_col, handle_col = header.index("code"), header.index("limits.handle.amount")
    row = next(
        r
        for r in sheet.iter_rows(min_row=2)
        if r[code_col].value == "06010" and r[0].value == "matter"
    )
    row[handle_col].value = 2
    book.save(path)
    service.import_catalog(session, clock, path)
    old = next(c for c in stored(session, 1) if c.key == "matter:06010")
    new = next(c for c in stored(session, 2) if c.key == "matter:06010")
    assert (old.limits.handle.amount, new.limits.handle.amount) == (4, 2)
    assert service.current_version(session).number == 2


def test_a_bad_row_refuses_the_whole_file(session, clock, installed, tmp_path):
    path = tmp_path / "c.xlsx"
    service.export_catalog(session, path)
    book = load_workbook(path)
    sheet = book["事项清单"]
    header = [c.value for c in sheet[1]]
    sheet.cell(row=5, column=header.index("sector") + 1, value="no_such_sector")
    sheet.cell(row=9, column=header.index("limits.handle.unit") + 1, value="fortnights")
    book.save(path)
    with pytest.raises(CatalogError) as caught:
        service.import_catalog(session, clock, path)
    reasons = " ".join(p.reason for p in caught.value.problems)
    assert "no_such_sector" in reasons and "fortnights" in reasons
    assert service.current_version(session).number == 1


def test_files_that_are_not_catalogues_are_refused(session, clock, tmp_path):
    text = tmp_path / "c.txt"
    text.write_text("x", "utf-8")
    with pytest.raises(InvalidInput, match="unsupported"):
        service.import_catalog(session, clock, text)
    fake = tmp_path / "c.xlsx"
    fake.write_bytes(b"not a zip")
    with pytest.raises(InvalidInput, match="not a valid .xlsx"):
        service.import_catalog(session, clock, fake)
    broken = tmp_path / "c.yaml"
    broken.write_text("components: [", "utf-8")
    with pytest.raises(InvalidInput, match="cannot read YAML"):
        service.import_catalog(session, clock, broken)


def test_the_api_lists_and_shows_categories(client, installed):
    page = client.get(
        "/api/v1/catalog/categories", params={"kind": "matter", "parent": "06"}
    ).json()
    assert page["total"] > 40 and all(c["parent_code"] == "06" for c in page["items"])
    one = client.get("/api/v1/catalog/categories/matter/06001").json()
    assert one["name"] == "私搭乱建" and one["limits"]["handle"] == {
        "amount": 20,
        "unit": "working_days",
    }
    assert client.get("/api/v1/catalog/categories/matter/99999").status_code == 404
    found = client.get("/api/v1/catalog/categories", params={"q": "井盖", "leaf": True}).json()
    assert found["total"] >= 2 and all("井盖" in c["name"] for c in found["items"])
    assert client.get("/api/v1/catalog/versions").json()[0]["number"] == 1


def test_without_a_catalogue_the_api_says_so(client):
    assert client.get("/api/v1/catalog/categories").status_code == 404
