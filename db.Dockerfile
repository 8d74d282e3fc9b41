# The database image for `docker compose up`: PostGIS plus the hll extension the stats use for unique members.
# The postgis image is Debian with the PostgreSQL (PGDG) apt repository, which packages hll per major version.
FROM postgis/postgis:15-3.4
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-15-hll \
 && rm -rf /var/lib/apt/lists/*
