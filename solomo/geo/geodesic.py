"""Geodesic distance and speed on the WGS84 ellipsoid, for Python-side tools and as the oracle for PostGIS."""

from __future__ import annotations

from pyproj import Geod

#: Shared: a Geod holds no per-call state, and building one per call would dominate small computations.
WGS84 = Geod(ellps="WGS84")

_MS_TO_KMH = 3.6


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance in metres between two lon/lat points (Karney's algorithm, as PostGIS geography)."""
    _, _, dist = WGS84.inv(lon1, lat1, lon2, lat2)
    return float(dist)


def implied_speed_kmh(d_m: float, acc1_m: float, acc2_m: float, dt_s: float, floor_s: float = 30.0) -> float:
    """The slowest speed in km/h that explains moving ``d_m`` between two fixes ``dt_s`` seconds apart.

    Each fix may be off by its accuracy radius, so both are taken off the distance before judging it; the time
    floor keeps two fixes a second apart (or out of order) from turning GPS jitter into an impossible speed.
    """
    return max(0.0, d_m - acc1_m - acc2_m) / max(dt_s, floor_s) * _MS_TO_KMH
