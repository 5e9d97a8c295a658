import pytest
from sqlalchemy import func, select

from chengzhi.errors import Conflict, InvalidInput, NotFound
from chengzhi.models import GridDuty, OrgUnit, Region, Role, UnitKind
from chengzhi.orgs import queries, service
from chengzhi.privacy import mask_id_number, mask_name, mask_phone
from chengzhi.regions import service as regions
from chengzhi.regions.service import insert_regions

TREE = (
    "code,name\n12,天津市\n120101,和平区\n120101001,劝业场街道\n120101001001,花园社区\n"
    "120101100,杨柳青镇\n120101100201,大柳滩村\n"
)


@pytest.fixture
def tree(session, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(TREE, "utf-8")
    regions.import_divisions(session, path)
    community = session.scalar(select(Region.id).where(Region.code == "120101001001"))
    insert_regions(
        session,
        [
            {
                "code": "120101001001001",
                "name": "花园社区第1网格",
                "level": "grid",
                "kind": "grid",
                "parent_id": community,
            }
        ],
    )


def test_scaffold_creates_the_units_every_city_has(session, tree):
    created = service.scaffold_units(session)
    departments = 2 * len(service.sectors())  # the city and its one district, one per sector
    assert created == {
        "operations_centre": 2,
        "department": departments,
        "street_office": 2,
        "community_committee": 2,
    }
    names = set(session.scalars(select(OrgUnit.name)))
    assert {
        "劝业场街道办事处",
        "杨柳青镇人民政府",
        "花园社区居民委员会",
        "大柳滩村村民委员会",
    } <= names
    assert "和平区城市管理局" in names and "天津市城市运行管理中心" in names
    assert service.scaffold_units(session) == {}  # idempotent


def test_units_filter_by_kind_sector_and_subtree(session, tree):
    service.scaffold_units(session)
    total, units = queries.list_units(
        session, 100, 0, kind="department", sector="chengguan", under="120101"
    )
    assert total == 1 and units[0].name == "和平区城市管理局"
    total, _ = queries.list_units(session, 100, 0, kind="street_office", under="120101001")
    assert total == 1


def test_people_get_roles_and_grid_duties(session, tree, clock):
    service.scaffold_units(session)
    head = service.create_person(
        session, clock, "王建国", Role.GRID_WORKER, "C120101001001", "13812341234"
    )
    service.assign_grid(session, "120101001001001", head.id, GridDuty.HEAD)
    with pytest.raises(Conflict):
        service.assign_grid(session, "120101001001001", head.id, GridDuty.FULL_TIME)
    with pytest.raises(InvalidInput, match="not a grid"):
        service.assign_grid(session, "120101001001", head.id, GridDuty.HEAD)
    with pytest.raises(NotFound):
        service.create_person(session, clock, "李四", Role.STREET_STAFF, "S999")
    total, people = queries.list_people(session, 10, 0, grid="120101001001001")
    assert total == 1 and people[0].id == head.id


def test_structure_check_names_what_breaks_fixed_grid_fixed_people(session, tree, clock):
    found = queries.structure_check(session)
    assert found["grids_without_people"]["sample"] == ["120101001001001"]
    assert found["regions_without_boundary"]["count"] == 7
    service.scaffold_units(session)
    idle = service.create_person(session, clock, "赵敏", Role.GRID_WORKER, "C120101001001")
    found = queries.structure_check(session)
    assert found["grid_workers_without_grid"]["sample"] == [idle.id]
    service.assign_grid(session, "120101001001001", idle.id, GridDuty.FULL_TIME)
    found = queries.structure_check(session)
    assert found["grids_without_people"]["count"] == 0
    assert found["grids_without_head"]["count"] == 1
    assert found["grid_workers_without_grid"]["count"] == 0


def test_unknown_sector_and_duplicate_unit_code_are_refused(session, tree):
    with pytest.raises(InvalidInput, match="sector"):
        service.create_unit(session, "X1", "某局", UnitKind.DEPARTMENT, "120101", sector="nope")
    service.create_unit(session, "X1", "某局", UnitKind.DEPARTMENT, "120101", sector="chengguan")
    with pytest.raises(Conflict):
        service.create_unit(session, "X1", "某局", UnitKind.DEPARTMENT, "120101")
    assert session.scalar(select(func.count()).where(OrgUnit.code == "X1")) == 1


def test_passwords_are_stored_as_argon2_hashes(session, tree, clock):
    service.scaffold_units(session)
    person = service.create_person(
        session, clock, "钱多多", Role.OPERATOR, None, None, "op1", "s3cret-pass"
    )
    assert person.password_hash.startswith("$argon2")
    assert service.verify_password(person.password_hash, "s3cret-pass")
    assert not service.verify_password(person.password_hash, "wrong")


def test_personal_data_masks():
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧阳**"
    assert mask_name("王建国") == "王**"
    assert mask_phone("13812341234") == "138****1234"
    assert mask_id_number("500101199001011234") == "5001**********1234"
    assert mask_name(None) is None
