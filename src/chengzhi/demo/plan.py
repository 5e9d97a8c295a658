"""A deterministic synthetic city (江州市, code '50') for demos, tests and benchmarks.

`plan_city(scale, seed)` lays out the whole governance structure — city → districts/counties →
streets/towns/townships → communities/villages → grids — as polygons that tile their parent
exactly, with Chinese names, statistical-division codes, population and households. Nothing is
stored; `chengzhi.demo` loaders turn the plan into rows.

How the city is made:

* The outline is a noisy blob around (106.5°E, 29.6°N); a population density surface has a dense
  urban core, a few satellite towns (county seats) and a low, gently varying rural background.
* Every level is cut with `partition_polygon` weighted by density^0.6, so units are small in the
  core and large in the countryside while holding more people in the core (urban communities
  have ~5× the people of a village, as in Chongqing).
* Street-level units are 街道 where dense, 镇 further out and 乡 in the remotest places; each
  district's densest unit is a 街道 (its seat). Under a 街道 units are 社区 except on rural land;
  a 镇 has one or two 社区 (the town centre) and villages; a 乡 mostly villages.
* Populations come from the density surface with noise, scaled so the urban (社区) and rural (村)
  totals match the scale's urbanisation; households = population / ~2.6; grids per community
  are chosen so that urban grids hold ~300–500 households and the scale's grid total comes out
  near its target (rural grids are smaller).

Codes: district '5001NN' (区) or '5002NN' (县, NN from 21), street = district + 001… (街道),
100… (镇), 200… (乡); community = street + 001… (社区) or 200… (村); grid = community + 001…,
numbered in reading order (north→south rows, west→east within a row) like every other level.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from chengzhi.demo import names
from chengzhi.geo.partition import grid_count, partition_polygons

__all__ = ["SCALES", "CityPlan", "PlannedRegion", "plan_city"]

CITY_CODE = "50"
CITY_NAME = "江州市"
CENTRE = (106.5, 29.6)
LEVELS = ("city", "district", "street", "community", "grid")
DENSITY_EXPONENT = 0.6  # units per area ∝ density^0.6: more people per unit where it is dense


@dataclass(frozen=True, slots=True)
class PlannedRegion:
    code: str  # significant digits only: '50', '500101', '500101001', '500101001001', …
    name: str  # '嘉陵区', '化龙桥街道', '七星岗社区', '七星岗社区第3网格'
    level: str  # 'city' | 'district' | 'street' | 'community' | 'grid'
    parent_code: str | None
    polygon: Polygon  # lon/lat WGS-84
    population: int
    households: int
    urban: bool  # 街道/社区 (urban) vs 镇乡/村 (rural); a district is urban if most units are 街道


@dataclass(frozen=True, slots=True)
class CityPlan:
    scale: str
    seed: int
    code: str
    name: str
    regions: list[PlannedRegion]  # parents before children: city, districts, streets, …

    def by_level(self, level: str) -> list[PlannedRegion]:
        return [r for r in self.regions if r.level == level]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(LEVELS, 0)
        for r in self.regions:
            out[r.level] += 1
        return out


@dataclass(frozen=True, slots=True)
class Scale:
    districts: int
    streets: int  # street-level units (街道 + 镇 + 乡), target
    communities: int  # 社区 + 村, target
    grids: int  # target
    population: int
    half_width: float  # degrees of longitude from the centre to the edge of the outline
    half_height: float
    outline_vertices: int
    core_sigma: float  # width of the dense core, in units of the outline's radius
    satellites: int  # secondary centres (county seats, new towns)
    street_share: float  # share of street-level units that are 街道
    township_share: float  # share that are 乡 (the rest are 镇)
    urban_share: float  # share of the population living in 社区
    county_share: float  # share of districts that are counties (县)


SCALES: dict[str, Scale] = {
    "small": Scale(
        districts=2, streets=8, communities=40, grids=400, population=300_000,
        half_width=0.055, half_height=0.045, outline_vertices=48, core_sigma=0.35,
        satellites=1, street_share=0.6, township_share=0.0, urban_share=0.8, county_share=0.0,
    ),
    "city": Scale(
        districts=8, streets=80, communities=800, grids=8_000, population=8_000_000,
        half_width=0.4, half_height=0.3, outline_vertices=96, core_sigma=0.22,
        satellites=3, street_share=0.45, township_share=0.08, urban_share=0.75,
        county_share=0.125,
    ),
    "megacity": Scale(
        districts=40, streets=1_000, communities=11_000, grids=120_000, population=32_000_000,
        half_width=1.5, half_height=1.25, outline_vertices=192, core_sigma=0.11,
        satellites=10, street_share=0.22, township_share=0.18, urban_share=0.7,
        county_share=0.3,
    ),
}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# the land


class Density:
    """Relative population density over lon/lat: urban core + satellites + rural background."""

    def __init__(self, scale: Scale, rng: np.random.Generator) -> None:
        self.cx, self.cy = CENTRE
        self.sx, self.sy = scale.half_width, scale.half_height
        self.core = rng.uniform(-0.08, 0.08, 2)
        self.core_sigma = scale.core_sigma
        angles = rng.uniform(0, 2 * np.pi, scale.satellites)
        radii = rng.uniform(0.3, 0.8, scale.satellites)
        self.satellites = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
        self.satellite_peak = rng.uniform(4.0, 12.0, scale.satellites)
        self.satellite_sigma = max(0.04, 0.5 * scale.core_sigma)
        self.waves = rng.uniform(2.0, 6.0, 4)
        self.wave_angle = rng.uniform(0, np.pi, 4)
        self.wave_phase = rng.uniform(0, 2 * np.pi, 4)

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u = (np.asarray(x, dtype=float) - self.cx) / self.sx
        v = (np.asarray(y, dtype=float) - self.cy) / self.sy
        noise = np.zeros_like(u)
        for f, a, p in zip(self.waves, self.wave_angle, self.wave_phase, strict=True):
            noise += np.sin(f * (u * np.cos(a) + v * np.sin(a)) + p)
        rho = 1.0 + 0.4 * noise / len(self.waves)
        d2 = (u - self.core[0]) ** 2 + (v - self.core[1]) ** 2
        rho += 80.0 * np.exp(-d2 / (2 * self.core_sigma**2))
        two_s2 = 2 * self.satellite_sigma**2
        for (px, py), peak in zip(self.satellites, self.satellite_peak, strict=True):
            rho += peak * np.exp(-((u - px) ** 2 + (v - py) ** 2) / two_s2)
        return rho

    def units(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Where governance units are dense: density^0.6."""
        return self(x, y) ** DENSITY_EXPONENT


def _outline(scale: Scale, rng: np.random.Generator) -> Polygon:
    """A star-shaped noisy blob: radius 1 + a few low harmonics + a little high-frequency wobble."""
    n = scale.outline_vertices
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in range(2, 7):
        r += rng.uniform(0.02, 0.12) / math.sqrt(k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    for k in range(7, 25):
        r += rng.uniform(0, 0.025) / math.sqrt(k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.55, 1.45)
    x = CENTRE[0] + scale.half_width * r * np.cos(theta)
    y = CENTRE[1] + scale.half_height * r * np.sin(theta)
    return Polygon(np.column_stack([np.round(x, 7), np.round(y, 7)]))


# ---------------------------------------------------------------------------------------------
# helpers


def _sub_seed(seed: int, key: str) -> int:
    """A stable 63-bit seed for one step of the plan (independent of the traversal order)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _apportion(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Integers ≥ minimum summing to `total`, proportional to `weights` (largest remainder)."""
    n = len(weights)
    total = max(total, minimum * n)
    spare = total - minimum * n
    w = np.asarray(weights, dtype=float)
    share = spare * w / w.sum()
    out = np.floor(share).astype(np.int64)
    short = spare - int(out.sum())
    if short > 0:
        out[np.argsort(-(share - out), kind="stable")[:short]] += 1
    return out + minimum


def _apportion_grouped(totals: np.ndarray, weights: np.ndarray, group: np.ndarray) -> np.ndarray:
    """`_apportion` (minimum 0) for many groups at once: items of group g share totals[g]."""
    n_groups = len(totals)
    w = np.asarray(weights, dtype=float)
    group_weight = np.bincount(group, weights=w, minlength=n_groups)
    share = totals[group] * w / group_weight[group]
    out = np.floor(share).astype(np.int64)
    short = totals - np.bincount(group, weights=out, minlength=n_groups).astype(np.int64)
    order = np.lexsort((-(share - out), group))  # by group, largest remainder first
    counts = np.bincount(group, minlength=n_groups)
    rank = np.arange(len(group)) - (np.cumsum(counts) - counts)[group[order]]
    out[order[rank < short[group[order]]]] += 1
    return out


def _representative_xy(polygons: list[Polygon]) -> np.ndarray:
    return shapely.get_coordinates(shapely.point_on_surface(np.asarray(polygons, dtype=object)))


@dataclass(slots=True)
class _Unit:
    """A region while the plan is being made (mutable; frozen into PlannedRegion at the end)."""

    polygon: Polygon
    parent: int  # index into the level above
    kind: str = ""  # district/county/autonomous, street/town/township, community/village
    urban: bool = False
    code: str = ""
    name: str = ""
    population: int = 0
    households: int = 0


# ---------------------------------------------------------------------------------------------
# the plan


def plan_city(scale: str, seed: int) -> CityPlan:
    """The synthetic city at `scale` ('small', 'city' or 'megacity'); same seed, same plan."""
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    cfg = SCALES[scale]
    rng = np.random.default_rng(np.random.SeedSequence([seed, list(SCALES).index(scale)]))
    density = Density(cfg, rng)
    city = _outline(cfg, rng)

    def split(
        parents: list[_Unit], counts: np.ndarray, level: str, weighted: bool = True
    ) -> list[_Unit]:
        """Cut every parent into counts[i] children (one vectorised call per level)."""
        pieces = partition_polygons(
            [p.polygon for p in parents],
            counts,
            [_sub_seed(seed, f"{level}{i}") for i in range(len(parents))],
            density=density.units if weighted else None,
        )
        return [_Unit(poly, i) for i, mine in enumerate(pieces) for poly in mine]

    # districts → street-level units → communities
    root = _Unit(city, 0)
    districts = split([root], np.array([cfg.districts]), "D")
    n_streets = _jitter(cfg.streets, rng)
    per_district = _apportion(n_streets, rng.lognormal(0, 0.15, len(districts)), minimum=3)
    streets = split(districts, per_district, "S")
    street_rho = _rho_at(density, streets)
    _classify_streets(streets, street_rho, cfg)

    n_communities = _jitter(cfg.communities, rng)
    per_street = _apportion(n_communities, rng.lognormal(0, 0.25, len(streets)), minimum=2)
    communities = split(streets, per_street, "C")
    community_rho = _rho_at(density, communities)
    _classify_communities(communities, community_rho, streets, street_rho, rng)
    _populate(communities, community_rho, cfg, rng)
    urban_target, rural_target = _households_per_grid(communities, cfg)

    # grids: equal-area pieces of each community, people shared out with a little noise
    per_community = np.array(
        [grid_count(c.households, urban_target if c.urban else rural_target) for c in communities]
    )
    grids = split(communities, per_community, "G", weighted=False)
    owner = np.array([g.parent for g in grids])
    weights = shapely.area(np.asarray([g.polygon for g in grids], dtype=object))
    weights = weights * rng.uniform(0.85, 1.15, len(grids))
    pops = _apportion_grouped(np.array([c.population for c in communities]), weights, owner)
    hhs = _apportion_grouped(np.array([c.households for c in communities]), weights, owner)
    hhs = np.minimum(np.maximum(hhs, pops > 0), np.maximum(pops, 1))
    for g, pop, hh in zip(grids, pops.tolist(), hhs.tolist(), strict=True):
        g.kind = "grid"
        g.urban = communities[g.parent].urban
        g.population = pop
        g.households = hh
    _roll_up(grids, communities)
    _roll_up(communities, streets)
    _roll_up(streets, districts)
    _classify_districts(districts, streets, _rho_at(density, districts), cfg)
    _assign_codes_and_names(seed, districts, streets, communities, grids)
    return _freeze(scale, seed, city, districts, streets, communities, grids)


def _jitter(target: int, rng: np.random.Generator) -> int:
    return max(1, int(round(target * rng.uniform(0.97, 1.03))))


def _rho_at(density: Density, units: list[_Unit]) -> np.ndarray:
    xy = _representative_xy([u.polygon for u in units])
    return density(xy[:, 0], xy[:, 1])


def _children(units: list[_Unit], n_parents: int) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n_parents)]
    for i, u in enumerate(units):
        out[u.parent].append(i)
    return out


def _classify_streets(streets: list[_Unit], rho: np.ndarray, cfg: Scale) -> None:
    """Densest → 街道, remotest → 乡, the rest 镇; each district's densest unit is a 街道."""
    n = len(streets)
    rank = np.argsort(-rho, kind="stable")
    n_street = int(round(cfg.street_share * n))
    n_township = int(round(cfg.township_share * n))
    kinds = np.full(n, "town", dtype=object)
    kinds[rank[:n_street]] = "street"
    if n_township:
        kinds[rank[n - n_township :]] = "township"
    seats: dict[int, int] = {}
    for i, s in enumerate(streets):
        if s.parent not in seats or rho[i] > rho[seats[s.parent]]:
            seats[s.parent] = i
    for i in seats.values():
        kinds[i] = "street"
    for s, kind in zip(streets, kinds, strict=True):
        s.kind = str(kind)
        s.urban = s.kind == "street"


def _classify_communities(
    communities: list[_Unit],
    rho: np.ndarray,
    streets: list[_Unit],
    street_rho: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """社区 (residents' committee) or 村 (villagers' committee) for every community-level unit."""
    kids = _children(communities, len(streets))
    town_land = [i for s, k in zip(streets, kids, strict=True) if s.kind != "street" for i in k]
    street_land = [i for s, k in zip(streets, kids, strict=True) if s.kind == "street" for i in k]
    rural_line = float(np.quantile(rho[town_land], 0.75)) if town_land else 0.0
    urban_line = float(np.quantile(rho[street_land], 0.25)) if street_land else np.inf
    for s, k in zip(streets, kids, strict=True):
        ordered = sorted(k, key=lambda i: -rho[i])
        if s.kind == "street":
            kinds = ["community" if rho[i] >= rural_line else "village" for i in ordered]
            kinds[0] = "community"
        elif s.kind == "town":
            centre = 2 if len(ordered) >= 8 else 1
            kinds = [
                "community" if r < centre or rho[i] >= urban_line else "village"
                for r, i in enumerate(ordered)
            ]
        else:
            kinds = ["village"] * len(ordered)
            if rng.random() < 0.5:
                kinds[0] = "community"
        for i, kind in zip(ordered, kinds, strict=True):
            communities[i].kind = kind
            communities[i].urban = kind == "community"


def _populate(
    communities: list[_Unit], rho: np.ndarray, cfg: Scale, rng: np.random.Generator
) -> None:
    """Population ∝ density × area × noise, scaled to the urban and rural totals."""
    area = shapely.area(np.asarray([c.polygon for c in communities], dtype=object))
    raw = rho * area * rng.lognormal(0.0, 0.3, len(communities))
    urban = np.array([c.kind == "community" for c in communities])
    pop = np.zeros(len(communities))
    limits = {True: (1_500, 40_000), False: (300, 6_000)}
    for flag, total in ((True, cfg.urban_share), (False, 1.0 - cfg.urban_share)):
        mask = urban == flag
        if not mask.any():
            continue
        want = total * cfg.population
        share = raw[mask] / raw[mask].sum() * want
        lo, hi = limits[flag]
        share = np.clip(share, lo, hi)
        pop[mask] = np.clip(share * want / share.sum(), lo * 0.8, hi * 1.2)
    size = np.where(urban, rng.normal(2.5, 0.12, len(pop)), rng.normal(2.75, 0.15, len(pop)))
    size = np.clip(size, 2.1, 3.4)
    for c, p, s in zip(communities, pop, size, strict=True):
        c.population = int(round(p))
        c.households = max(1, int(round(p / s)))


def _households_per_grid(communities: list[_Unit], cfg: Scale) -> tuple[int, int]:
    """Households per urban and per rural grid so the grid total comes out near the target."""
    urban_hh = sum(c.households for c in communities if c.kind == "community")
    rural_hh = sum(c.households for c in communities if c.kind != "community")
    ratio = 0.3  # a rural grid holds ~30 % of an urban grid's households, before clamping
    urban_target = (urban_hh + rural_hh / ratio) / cfg.grids
    urban_target = min(500.0, max(300.0, urban_target))
    rural_grids = cfg.grids - urban_hh / urban_target
    if rural_hh and rural_grids > 0:
        rural_target = min(urban_target, max(20.0, rural_hh / rural_grids))
    else:
        rural_target = urban_target * ratio
    return int(round(urban_target)), int(round(rural_target))


def _roll_up(children: list[_Unit], parents: list[_Unit]) -> None:
    for p in parents:
        p.population = 0
        p.households = 0
    for c in children:
        parents[c.parent].population += c.population
        parents[c.parent].households += c.households


def _classify_districts(
    districts: list[_Unit], streets: list[_Unit], rho: np.ndarray, cfg: Scale
) -> None:
    """区 if most units are 街道; of the rest the remotest are 县 (the two remotest of many
    counties are autonomous counties), the others 区."""
    kids = _children(streets, len(districts))
    urban = [sum(streets[i].kind == "street" for i in k) * 2 >= len(k) for k in kids]
    rural = sorted((i for i in range(len(districts)) if not urban[i]), key=lambda i: rho[i])
    n_county = min(len(rural), int(round(cfg.county_share * len(districts))))
    for d, u in zip(districts, urban, strict=True):
        d.kind = "district"
        d.urban = u
    for rank, i in enumerate(rural[:n_county]):
        districts[i].kind = "autonomous" if n_county >= 6 and rank < 2 else "county"


def _assign_codes_and_names(
    seed: int,
    districts: list[_Unit],
    streets: list[_Unit],
    communities: list[_Unit],
    grids: list[_Unit],
) -> None:
    rng = random.Random(_sub_seed(seed, "names:district"))
    taken: set[str] = set()
    n_district = n_county = 0
    for d in districts:  # reading order
        if d.kind == "district":
            n_district += 1
            d.code = f"{CITY_CODE}01{n_district:02d}"
        else:
            n_county += 1
            d.code = f"{CITY_CODE}02{20 + n_county:02d}"
        d.name = names.district_name(rng, taken, kind=d.kind)
    _number_children(seed, districts, streets, {"street": 1, "town": 100, "township": 200})
    _number_children(seed, streets, communities, {"community": 1, "village": 200})
    seq = [0] * len(communities)
    for g in grids:
        c = communities[g.parent]
        seq[g.parent] += 1
        g.code = f"{c.code}{seq[g.parent]:03d}"
        g.name = names.grid_name(c.name, seq[g.parent])


_LIMITS = {"street": 99, "town": 100, "township": 200, "community": 199, "village": 200}


def _number_children(
    seed: int, parents: list[_Unit], children: list[_Unit], first: dict[str, int]
) -> None:
    counters: list[dict[str, int]] = [dict.fromkeys(first, 0) for _ in parents]
    taken: list[set[str]] = [set() for _ in parents]
    rngs: dict[int, random.Random] = {}
    for c in children:  # reading order within each parent
        p = parents[c.parent]
        n = counters[c.parent][c.kind]
        if n >= _LIMITS[c.kind]:
            raise ValueError(f"too many {c.kind} units under {p.code}")
        counters[c.parent][c.kind] = n + 1
        c.code = f"{p.code}{first[c.kind] + n:03d}"
        rng = rngs.get(c.parent)
        if rng is None:
            rng = rngs[c.parent] = random.Random(_sub_seed(seed, f"names:{p.code}"))
        c.name = _name_for(c.kind, rng, taken[c.parent])


def _name_for(kind: str, rng: random.Random, taken: set[str]) -> str:
    if kind == "street":
        return names.street_name(rng, taken)
    if kind in ("town", "township"):
        return names.town_name(rng, taken, township=kind == "township")
    if kind == "community":
        return names.community_name(rng, taken)
    return names.village_name(rng, taken)


def _freeze(
    scale: str,
    seed: int,
    city: Polygon,
    districts: list[_Unit],
    streets: list[_Unit],
    communities: list[_Unit],
    grids: list[_Unit],
) -> CityPlan:
    regions = [
        PlannedRegion(
            CITY_CODE,
            CITY_NAME,
            "city",
            None,
            city,
            sum(d.population for d in districts),
            sum(d.households for d in districts),
            True,
        )
    ]

    def level(
        units: list[_Unit], name: str, parents: list[_Unit] | None
    ) -> Iterator[PlannedRegion]:
        for u in sorted(units, key=lambda u: u.code):
            parent = CITY_CODE if parents is None else parents[u.parent].code
            yield PlannedRegion(
                u.code, u.name, name, parent, u.polygon, u.population, u.households, u.urban
            )

    regions.extend(level(districts, "district", None))
    regions.extend(level(streets, "street", districts))
    regions.extend(level(communities, "community", streets))
    regions.extend(level(grids, "grid", communities))
    return CityPlan(scale, seed, CITY_CODE, CITY_NAME, regions)
