#!/bin/sh
set -e
bin=/usr/lib/postgresql/15/bin
user="${POSTGRES_USER:-postgres}"
password="${POSTGRES_PASSWORD:-postgres}"
db="${POSTGRES_DB:-$user}"
mkdir -p "$PGDATA" /run/postgresql
chown -R postgres:postgres "$PGDATA" /run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  echo "$password" > /tmp/pwfile
  chown postgres /tmp/pwfile
  su postgres -c "$bin/initdb -D $PGDATA -U $user --pwfile=/tmp/pwfile --auth=scram-sha-256" >/dev/null
  rm -f /tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  # A first, local-only start to create the database, as the official image does.
  su postgres -c "$bin/pg_ctl -D $PGDATA -o \"-c listen_addresses=''\" -w start"
  if [ "$db" != "postgres" ]; then
    PGPASSWORD="$password" su postgres -c "PGPASSWORD='$password' $bin/psql -U $user -d postgres -c 'CREATE DATABASE \"$db\"'" >/dev/null
  fi
  su postgres -c "$bin/pg_ctl -D $PGDATA -m fast -w stop"
fi
exec su postgres -c "$bin/postgres -D $PGDATA -c listen_addresses='*' -c fsync=off"
