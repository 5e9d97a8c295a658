"""GCJ-02 ⇄ WGS-84: published reference values, round trips, and the outside-China rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from chengzhi.geo.coords import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180


def metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    dx = (lon1 - lon2) * np.cos(np.radians(lat1))
    return np.hypot(dx, lat1 - lat2) * METRES_PER_DEGREE


def reference_wgs_to_gcj(lon: float, lat: float) -> tuple[float, float]:
    """The original scalar formula, written out independently as a cross-check."""
    x, y = lon - 105.0, lat - 35.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    d_lat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
    d_lat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    d_lon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
    d_lon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
    d_lon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3
    a, ee = 6378245.0, 0.00669342162296594323
    magic = 1 - ee * math.sin(math.radians(lat)) ** 2
    d_lat = d_lat * 180.0 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    d_lon = d_lon * 180.0 / (a / math.sqrt(magic) * math.cos(math.radians(lat)) * math.pi)
    return lon + d_lon, lat + d_lat


def china_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(73.0, 135.0, n), rng.uniform(18.0, 53.5, n)


def test_tiananmen_reference_value():
    lon, lat = wgs84_to_gcj02(116.397, 39.908)
    assert lon == pytest.approx(116.40324, abs=1e-5)
    assert lat == pytest.approx(39.90941, abs=1e-5)


def test_vectorised_forward_matches_the_scalar_formula():
    lon, lat = china_points(500, seed=1)
    got_lon, got_lat = wgs84_to_gcj02(lon, lat)
    want = np.array([reference_wgs_to_gcj(a, b) for a, b in zip(lon, lat, strict=True)])
    assert np.allclose(got_lon, want[:, 0], rtol=0, atol=1e-11)
    assert np.allclose(got_lat, want[:, 1], rtol=0, atol=1e-11)


def test_the_shift_is_a_few_hundred_metres_in_china():
    lon, lat = china_points(2000, seed=2)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shift = metres(g_lon, g_lat, lon, lat)
    assert shift.min() > 20 and shift.max() < 1000


def test_gcj_to_wgs_inverts_the_forward_to_well_under_half_a_metre():
    lon, lat = china_points(20_000, seed=3)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert metres(back_lon, back_lat, lon, lat).max() < 0.01  # contract: < 0.5 m
    # and the other way round: a GCJ point maps to a WGS point that maps back onto it
    w_lon, w_lat = gcj02_to_wgs84(lon, lat)
    again_lon, again_lat = wgs84_to_gcj02(w_lon, w_lat)
    assert metres(again_lon, again_lat, lon, lat).max() < 0.01


def test_the_inverse_beats_the_one_step_approximation():
    lon, lat = china_points(2000, seed=4)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    s_lon, s_lat = wgs84_to_gcj02(g_lon, g_lat)  # one step: wgs ≈ gcj - shift(gcj)
    naive = metres(2 * g_lon - s_lon, 2 * g_lat - s_lat, lon, lat)
    exact = metres(*gcj02_to_wgs84(g_lon, g_lat), lon, lat)
    assert naive.max() > 0.5 > exact.max()


@pytest.mark.parametrize(
    "lon, lat",
    [
        (2.3522, 48.8566),
        (-74.006, 40.7128),
        (139.6917, 35.6895),
        (151.2093, -33.8688),
        (100.0, 0.5),
        (70.0, 39.0),
    ],
)
def test_points_outside_china_are_unchanged(lon, lat):
    assert bool(out_of_china(lon, lat))
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_scalars_give_floats_and_arrays_keep_their_shape():
    lon, lat = wgs84_to_gcj02(106.5, 29.6)
    assert type(lon) is float and type(lat) is float
    grid_lon, grid_lat = gcj02_to_wgs84(np.full((3, 2), 106.5), np.full((3, 2), 29.6))
    assert grid_lon.shape == grid_lat.shape == (3, 2)
    listed = wgs84_to_gcj02([106.5, 2.35], [29.6, 48.85])
    assert listed[0][1] == 2.35 and listed[0][0] == pytest.approx(lon)
    empty = gcj02_to_wgs84(np.array([]), np.array([]))
    assert empty[0].shape == (0,)


def test_input_arrays_are_not_modified():
    lon, lat = np.array([106.5, 116.4]), np.array([29.6, 39.9])
    gcj02_to_wgs84(lon, lat)
    wgs84_to_gcj02(lon, lat)
    assert lon.tolist() == [106.5, 116.4] and lat.tolist() == [29.6, 39.9]
