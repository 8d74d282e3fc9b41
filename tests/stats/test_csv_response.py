"""The CSV answer of the stats routes, as a client's HTTP library sees its headers (no database needed)."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.response import Stream
from litestar.testing import TestClient

from solomo.stats.csv_response import csv_response


@get("/rows", sync_to_thread=False)
def rows() -> Stream:
    return csv_response(["day", "claims"], [("2026-11-30", 3), ("2026-12-01", None)], "daily")


def test_the_csv_answer_names_its_charset_once() -> None:
    with TestClient(Litestar([rows])) as client:
        answer = client.get("/rows", headers={"Accept": "text/csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == 'attachment; filename="daily.csv"'
    assert answer.text == "day,claims\r\n2026-11-30,3\r\n2026-12-01,\r\n"
