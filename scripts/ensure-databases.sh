#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) accept
# connections; start them (installing them first if they are absent) when not.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
maria_up() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -uroot ping >/dev/null 2>&1; }

wait_for() {
    local name=$1 check=$2
    for _ in $(seq 1 60); do
        if $check; then return 0; fi
        sleep 1
    done
    echo "error: $name did not come up on 127.0.0.1 within 60 s" >&2
    return 1
}

install_packages() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: $* not installed and not root; install them with apt-get" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! pg_up; then
    echo "==> starting PostgreSQL"
    command -v pg_ctlcluster >/dev/null || install_packages postgresql
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    wait_for PostgreSQL pg_up
fi

if ! maria_up; then
    echo "==> starting MariaDB"
    command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || install_packages mariadb-server
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB maria_up
fi
# A second PostgreSQL, private to the project, with logical decoding
# (wal_level=logical needs a restart, so the shared server is left alone): the
# source of the replication-slot tests of a CDC start from an LSN.
SOURCE_PORT=5433
SOURCE_DIR=/var/tmp/dms-refresh-pg-source
pg_source_up() { pg_isready -q -h 127.0.0.1 -p "$SOURCE_PORT" 2>/dev/null; }
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if ! pg_source_up; then
    echo "==> starting the logical-decoding PostgreSQL on 127.0.0.1:$SOURCE_PORT"
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    if [ ! -f "$SOURCE_DIR/PG_VERSION" ]; then
        mkdir -p "$SOURCE_DIR"
        [ "$(id -u)" -ne 0 ] || chown postgres: "$SOURCE_DIR"
        as_postgres "$pg_bin/initdb" -D "$SOURCE_DIR" -A trust -U postgres >/dev/null
    fi
    as_postgres "$pg_bin/pg_ctl" -D "$SOURCE_DIR" -l "$SOURCE_DIR/server.log" -w start -o \
        "-p $SOURCE_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$SOURCE_DIR \
         -c wal_level=logical -c max_replication_slots=20 -c max_wal_senders=20 -c fsync=off" \
        >/dev/null
    wait_for "the logical-decoding PostgreSQL" pg_source_up
fi
echo "==> PostgreSQL (and its logical-decoding twin on $SOURCE_PORT) and MariaDB are up"
