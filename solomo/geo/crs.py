"""China's map coordinate systems, GCJ-02 and BD-09, to and from WGS-84: the published formulas, pure.

- **GCJ-02** ("Mars coordinates", 国测局坐标) is WGS-84 moved by the obfuscating offset that Chinese law asks of
  published maps, 300 to 700 m in the cities. AMap (Gaode), Tencent Maps and WeChat's
  ``wx.getLocation({type: 'gcj02'})`` give positions in it.
- **BD-09** (Baidu) is GCJ-02 moved again by Baidu's own formula (about another 500 m to 1 km).

The forward formulas (WGS-84 → GCJ-02, GCJ-02 → BD-09) are the ones every open implementation shares, with the
constants of the original code (the Krasovsky 1940 ellipsoid's ``a`` and ``ee``). Neither has a closed-form
inverse: GCJ-02 → WGS-84 and BD-09 → GCJ-02 start from the usual one-step estimate (subtract the offset found at
the target, up to a few metres off) and then iterate the forward formula, ``p ← p - (forward(p) - target)``. The offset
changes by well under 1 % of a degree per degree, so each step shrinks the error a hundredfold: three steps
miss by less than :data:`_TOLERANCE_DEG` (about a millimetre), and the correction that follows leaves
a hundred times less.

Outside mainland China the published algorithms move nothing, and neither does this module: every conversion is
the identity outside the ``out_of_china`` box (longitude 72.004 to 137.8347, latitude 0.8293 to 55.8271, a rough
box that also takes in neighbouring countries). Whether a point is in the box is decided once, on the point
given, and then every step of the conversion applies: a conversion never stops half-way at the box's edge.

Scalar functions (``math``, a few microseconds: the check-in route converts one point) and array functions
(``numpy``, for rings and boxes) run the same formulas, written once over :class:`_Ops`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

Crs = Literal["wgs84", "gcj02", "bd09"]
CRS_NAMES: Final[tuple[Crs, ...]] = ("wgs84", "gcj02", "bd09")
WGS84_CRS: Final[Crs] = "wgs84"

FloatArray = npt.NDArray[np.float64]
_N = TypeVar("_N", float, FloatArray)

# The original code's Krasovsky 1940 semi-major axis (m) and first eccentricity squared.
_A: Final = 6378245.0
_EE: Final = 0.00669342162296594323
# BD-09's rotation is in units of x_pi = π·3000/180.
_X_PI: Final = math.pi * 3000.0 / 180.0
_MIN_LON, _MAX_LON, _MIN_LAT, _MAX_LAT = 72.004, 137.8347, 0.8293, 55.8271
#: The inverses stop once the forward formula misses by less than this (about 1 mm); the last correction still
#: applies, leaving hundredths of a millimetre: far below the 0.5 m the API promises.
_TOLERANCE_DEG: Final = 1e-8
#: Three steps reach the tolerance across China; a bound, so that no input can loop.
_MAX_STEPS: Final = 10


class _Ops(NamedTuple):
    """The functions the formulas call, from ``math`` for one point or ``numpy`` for arrays."""

    sin: Callable[[Any], Any]
    cos: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    hypot: Callable[[Any, Any], Any]
    atan2: Callable[[Any, Any], Any]
    #: The largest absolute value: what the inverses compare with the tolerance.
    largest: Callable[[Any], float]


_SCALAR: Final = _Ops(math.sin, math.cos, math.sqrt, math.hypot, math.atan2, abs)
_ARRAY: Final = _Ops(np.sin, np.cos, np.sqrt, np.hypot, np.arctan2, lambda a: float(np.max(np.abs(a), initial=0.0)))


def _gcj_offset(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees (the published ``transformLat/Lon`` and ``delta``)."""
    x, y = lon - 105.0, lat - 35.0
    x_pi, y_pi = x * math.pi, y * math.pi
    shared = (20.0 * m.sin(6.0 * x_pi) + 20.0 * m.sin(2.0 * x_pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * m.sqrt(abs(x)) + shared
    d_lat += (20.0 * m.sin(y_pi) + 40.0 * m.sin(y_pi / 3.0)) * 2.0 / 3.0
    d_lat += (160.0 * m.sin(y_pi / 12.0) + 320.0 * m.sin(y_pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * m.sqrt(abs(x)) + shared
    d_lon += (20.0 * m.sin(x_pi) + 40.0 * m.sin(x_pi / 3.0)) * 2.0 / 3.0
    d_lon += (150.0 * m.sin(x_pi / 12.0) + 300.0 * m.sin(x_pi / 30.0)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * m.sin(rad_lat) ** 2
    sqrt_magic = m.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * m.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def _gcj_forward(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    d_lon, d_lat = _gcj_offset(lon, lat, m)
    return lon + d_lon, lat + d_lat


def _gcj_estimate(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    """The published one-step GCJ-02 → WGS-84 (1 to 2 m off): the offset at the GCJ-02 point, taken back."""
    d_lon, d_lat = _gcj_offset(lon, lat, m)
    return lon - d_lon, lat - d_lat


def _bd_forward(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    """GCJ-02 → BD-09: a small rotation and scaling about the origin, then a shift."""
    z = m.hypot(lon, lat) + 0.00002 * m.sin(lat * _X_PI)
    theta = m.atan2(lat, lon) + 0.000003 * m.cos(lon * _X_PI)
    return z * m.cos(theta) + 0.0065, z * m.sin(theta) + 0.006


def _bd_estimate(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    """The published BD-09 → GCJ-02 (centimetres off): the forward formula's terms taken back in reverse."""
    x, y = lon - 0.0065, lat - 0.006
    z = m.hypot(x, y) - 0.00002 * m.sin(y * _X_PI)
    theta = m.atan2(y, x) - 0.000003 * m.cos(x * _X_PI)
    return z * m.cos(theta), z * m.sin(theta)


_Formula = Callable[[Any, Any, _Ops], tuple[Any, Any]]


def _invert(forward: _Formula, estimate: _Formula, lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    """The point that ``forward`` takes to (lon, lat): the estimate, corrected by the forward formula's miss."""
    x, y = estimate(lon, lat, m)
    for _ in range(_MAX_STEPS):
        to_lon, to_lat = forward(x, y, m)
        miss_lon, miss_lat = to_lon - lon, to_lat - lat
        x, y = x - miss_lon, y - miss_lat
        if max(m.largest(miss_lon), m.largest(miss_lat)) < _TOLERANCE_DEG:
            break
    return x, y


# Each conversion with no box test, for one point or arrays.
def _gcj_to_wgs(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    return _invert(_gcj_forward, _gcj_estimate, lon, lat, m)


def _bd_to_gcj(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    return _invert(_bd_forward, _bd_estimate, lon, lat, m)


def _wgs_to_bd(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    return _bd_forward(*_gcj_forward(lon, lat, m), m)


def _bd_to_wgs(lon: _N, lat: _N, m: _Ops) -> tuple[_N, _N]:
    return _gcj_to_wgs(*_bd_to_gcj(lon, lat, m), m)


_TO_WGS84: Final[dict[Crs, _Formula]] = {"gcj02": _gcj_to_wgs, "bd09": _bd_to_wgs}
_FROM_WGS84: Final[dict[Crs, _Formula]] = {"gcj02": _gcj_forward, "bd09": _wgs_to_bd}


def out_of_china(lon: float, lat: float) -> bool:
    """Outside the published box, where GCJ-02 and BD-09 are WGS-84 itself."""
    return not (_MIN_LON <= lon <= _MAX_LON and _MIN_LAT <= lat <= _MAX_LAT)


def _one(formula: _Formula, lon: float, lat: float) -> tuple[float, float]:
    """``formula`` for a point in the box, the point itself outside it."""
    if out_of_china(lon, lat):
        return lon, lat
    converted: tuple[float, float] = formula(lon, lat, _SCALAR)
    return converted


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    return _one(_gcj_forward, lon, lat)


def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return _one(_gcj_to_wgs, lon, lat)


def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return _one(_bd_forward, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    return _one(_bd_to_gcj, lon, lat)


def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]:
    return _one(_wgs_to_bd, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    return _one(_bd_to_wgs, lon, lat)


def to_wgs84(crs: Crs, lon: float, lat: float) -> tuple[float, float]:
    """One position given in ``crs``, in WGS-84."""
    return (lon, lat) if crs == WGS84_CRS else _one(_TO_WGS84[crs], lon, lat)


def from_wgs84(crs: Crs, lon: float, lat: float) -> tuple[float, float]:
    """One WGS-84 position, in ``crs``."""
    return (lon, lat) if crs == WGS84_CRS else _one(_FROM_WGS84[crs], lon, lat)


def _many(formula: _Formula | None, lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """New arrays: ``formula`` applied to the positions inside the box, the others (NaN too) copied as they are."""
    out_lons, out_lats = np.array(lons, dtype=np.float64), np.array(lats, dtype=np.float64)
    if formula is None:
        return out_lons, out_lats
    inside = (out_lons >= _MIN_LON) & (out_lons <= _MAX_LON) & (out_lats >= _MIN_LAT) & (out_lats <= _MAX_LAT)
    if inside.any():
        out_lons[inside], out_lats[inside] = formula(out_lons[inside], out_lats[inside], _ARRAY)
    return out_lons, out_lats


def to_wgs84_arrays(crs: Crs, lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Many positions given in ``crs``, in WGS-84 (new arrays), in one vectorised pass."""
    return _many(_TO_WGS84.get(crs), lons, lats)


def from_wgs84_arrays(crs: Crs, lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Many WGS-84 positions, in ``crs`` (new arrays), in one vectorised pass."""
    return _many(_FROM_WGS84.get(crs), lons, lats)
