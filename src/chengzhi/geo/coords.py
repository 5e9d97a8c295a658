"""GCJ-02 ⇄ WGS-84 conversion (the public-domain "eviltransform" formulas), vectorised.

Chinese web maps (Amap/Gaode, Tencent, Google in China) publish GCJ-02 coordinates: WGS-84
shifted by a deliberately obfuscated offset of a few hundred metres.  The forward formula is
public; the inverse has no closed form, so `gcj02_to_wgs84` iterates the forward one until it
reproduces the input (better than 1 mm; the one-step approximation is off by 1-2 m).

Both functions take (lon, lat) as floats or array-likes and return the same kind.  Points
outside China's rough bounding box are returned unchanged, as the standard formula does.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["gcj02_to_wgs84", "wgs84_to_gcj02", "out_of_china"]

# Krasovsky 1940 ellipsoid, as in the original formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_ITERATIONS = 10
_CONVERGED_DEG = 1e-12

FloatArray = NDArray[np.float64]


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
    """Where the formula leaves coordinates alone (outside a box around China)."""
    x, y = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    return ~((x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271))


def _offset(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 shift (degrees) at a WGS-84 point."""
    x, y = lon - 105.0, lat - 35.0
    x_pi, y_pi = x * math.pi, y * math.pi
    common = 20.0 * np.sin(6.0 * x_pi) + 20.0 * np.sin(2.0 * x_pi)
    d_lat = (
        (
            common
            + 20.0 * np.sin(y_pi)
            + 40.0 * np.sin(y_pi / 3.0)
            + 160.0 * np.sin(y_pi / 12.0)
            + 320.0 * np.sin(y_pi / 30.0)
        )
        * 2.0
        / 3.0
    )
    d_lon = (
        (
            common
            + 20.0 * np.sin(x_pi)
            + 40.0 * np.sin(x_pi / 3.0)
            + 150.0 * np.sin(x_pi / 12.0)
            + 300.0 * np.sin(x_pi / 30.0)
        )
        * 2.0
        / 3.0
    )
    root = np.sqrt(np.abs(x))
    d_lat += -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * root
    d_lon += 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * root
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = d_lat * 180.0 / (_A * (1.0 - _EE) / (magic * sqrt_magic) * math.pi)
    d_lon = d_lon * 180.0 / (_A / sqrt_magic * np.cos(rad) * math.pi)
    return d_lon, d_lat


def _forward(lon: FloatArray, lat: FloatArray, shift: NDArray[np.bool_]) -> tuple[FloatArray, ...]:
    d_lon, d_lat = _offset(lon, lat)
    return np.where(shift, lon + d_lon, lon), np.where(shift, lat + d_lat, lat)


def _inverse(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Fixed-point iteration w ← w - (gcj(w) - target); the offset varies slowly, so each
    step gains about four digits and a few steps reach float precision."""
    shift = ~out_of_china(lon, lat)
    w_lon, w_lat = lon.copy(), lat.copy()
    for _ in range(_ITERATIONS):
        g_lon, g_lat = _forward(w_lon, w_lat, shift)
        e_lon, e_lat = g_lon - lon, g_lat - lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if np.nanmax(np.abs(np.concatenate([e_lon, e_lat])), initial=0.0) < _CONVERGED_DEG:
            break
    return w_lon, w_lat


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[FloatArray, FloatArray] | tuple[float, float]:
    """WGS-84 (GPS) lon/lat → GCJ-02 lon/lat."""
    x, y = _arrays(lon, lat)
    out = _forward(x, y, ~out_of_china(x, y))
    return _like(lon, lat, out)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(
    lon: ArrayLike, lat: ArrayLike
) -> tuple[FloatArray, FloatArray] | tuple[float, float]:
    """GCJ-02 lon/lat → WGS-84 lon/lat (iterative exact inverse, error far below 0.5 m)."""
    x, y = _arrays(lon, lat)
    return _like(lon, lat, _inverse(x, y))


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.atleast_1d(x).astype(np.float64), np.atleast_1d(y).astype(np.float64)


def _like(
    lon: ArrayLike, lat: ArrayLike, out: tuple[FloatArray, ...]
) -> tuple[FloatArray, FloatArray] | tuple[float, float]:
    """Floats back for scalar input, arrays of the input's shape otherwise."""
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        return float(out[0][0]), float(out[1][0])
    shape = np.broadcast_shapes(np.shape(lon), np.shape(lat))
    return out[0].reshape(shape), out[1].reshape(shape)
