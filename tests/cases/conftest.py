"""A small demo city with the default catalogue and the demo personas as actors."""

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from chengzhi.cases.service import NewCase
from chengzhi.catalog import service as catalog
from chengzhi.demo import build, plan
from chengzhi.demo.build import DEMO_PASSWORD
from chengzhi.deps import get_clock
from chengzhi.models import Category, Channel, Person, RequestType
from chengzhi.orgs.queries import Actor, actor_for


@dataclass
class City:
    plan: plan.CityPlan
    actors: dict[str, Actor]
    grid: plan.PlannedRegion  # the grid the grid-worker persona serves

    def point(self):
        p = self.grid.polygon.representative_point()
        return p.x, p.y


@pytest.fixture
def city(session, clock) -> City:
    city_plan = plan.plan_city("small", 11)
    logins = build.store_city(session, city_plan, clock)
    catalog.install_defaults(session, clock)
    actors = {}
    for login in logins:
        person = session.scalar(select(Person).where(Person.username == login.username))
        actors[login.username] = actor_for(session, person.id)
    grid = next(r for r in city_plan.regions if r.code == actors["grid_worker"].grids[0])
    return City(city_plan, actors, grid)


def district_matter(session) -> tuple[str, str]:
    """A leaf matter a district department (城管) handles."""
    row = session.scalar(
        select(Category)
        .where(
            Category.kind == "matter",
            Category.is_leaf.is_(True),
            Category.handling_level == "district",
            Category.sector == "chengguan",
        )
        .order_by(Category.code)
    )
    return ("matter", row.code)


def appeal(city: City, category=("matter", "06010"), **extra) -> NewCase:
    lon, lat = city.point()
    fields = dict(
        title="小区门口垃圾堆积",
        description="幸福路12号门口垃圾三天没人清运，气味很大。",
        request_type=RequestType.COMPLAINT,
        channel=Channel.HOTLINE,
        category=category,
        lon=lon,
        lat=lat,
        reporter_name="张三",
        reporter_phone="13800138000",
    )
    return NewCase(**{**fields, **extra})


@pytest.fixture
def api(client, city, clock):
    """The test client, on the demo city, with the test's clock."""
    client.app.dependency_overrides[get_clock] = lambda: clock
    return client


def login(api, username: str) -> dict:
    """The Authorization header of a demo persona (operator, dispatcher, resident…)."""
    body = api.post(
        "/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {body['token']}"}
