#!/bin/sh
# Run once, on an empty data directory, by the postgres image's entrypoint: one database
# per service that keeps its data in PostgreSQL. (Each service would also create its own
# at start; made here, they exist for backups and grants from the first minute.)
set -eu
for service in identity catalog cart inventory payments orders notifications; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE bazaar_$service"
done
