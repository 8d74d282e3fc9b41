"""The development database is recreated when it is at a revision these migrations do not know (a squashed
history), and left alone when its revision is known."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import make_url

from solomo.db import cluster
from solomo.db.cluster import LocalCluster
from tests.databases import TestDatabases


@pytest.fixture(scope="module")
def local(databases: TestDatabases) -> Iterator[LocalCluster]:
    """A private cluster, as the dev database lives in one: the session's throwaway cluster, or (when the tests run
    against an outside server) one of this module's own."""
    if databases.cluster is not None:
        yield databases.cluster
        return
    own = cluster.throwaway_cluster()
    try:
        yield own
    finally:
        own.destroy()


def test_a_database_at_an_unknown_revision_is_recreated(
    local: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    name = make_url(local.ensure_database("dev_unknown")).database
    assert name is not None
    local.psql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)", dbname=name)
    local.psql("INSERT INTO alembic_version VALUES ('0016')", dbname=name)
    local.psql("CREATE TABLE leftover (id int)", dbname=name)

    cluster._dev_database(local, name)

    assert "no longer have" in capsys.readouterr().out
    assert local.psql("SELECT to_regclass('public.leftover') IS NULL", dbname=name) == "t"
    assert local.psql("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'", dbname=name) == "1"


def test_a_database_at_a_known_revision_is_kept(local: LocalCluster) -> None:
    name = make_url(local.ensure_database("dev_known")).database
    assert name is not None
    head = sorted(cluster.known_revisions())[0]
    local.psql("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)", dbname=name)
    local.psql(f"INSERT INTO alembic_version VALUES ('{head}')", dbname=name)

    cluster._dev_database(local, name)

    assert local.psql("SELECT version_num FROM alembic_version", dbname=name) == head
