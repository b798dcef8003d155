#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for the coordinator state contract tests
# (tests/contract/test_state_store.py). CI runs the PostgreSQL cases for real; so can you:
#
#   eval "$(scripts/postgres.sh start)"   # prints: export FEDWARD_TEST_POSTGRES_URL=postgresql+psycopg://...
#   .venv/bin/python -m pytest tests/contract
#   scripts/postgres.sh stop
#
# `start` installs the Debian package if no PostgreSQL binaries are found (apt-get; as root, or through
# sudo), creates a cluster in $FEDWARD_PG_DIR (default /tmp/fedward-postgres-UID) that listens on
# 127.0.0.1 only, on a free port, with a database `fedward_test` owned by a user with a random password,
# waits until it accepts connections and prints the export line. Run again, it reuses the running server.
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user.
# Everything but the export line goes to stderr, so that `eval` sees only that line.
set -euo pipefail

DIR=${FEDWARD_PG_DIR:-/tmp/fedward-postgres-$(id -u)}
DATA=$DIR/data
ENV_FILE=$DIR/url
DB=fedward_test
DB_USER=fedward

say() { echo "postgres.sh: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else say "need root (or sudo) to run: $*"; return 1
    fi
}

# The server must not run as root: as root, run the server's commands as `postgres`.
as_pg() {
    if [ "$(id -u)" != 0 ]; then "$@"
    elif command -v runuser >/dev/null; then (cd / && runuser -u postgres -- "$@")
    else (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    fi
}

# Remove $DIR only if this script made it: FEDWARD_PG_DIR may point anywhere.
wipe_dir() {
    if [ -e "$DIR" ] && [ ! -e "$DIR/.fedward-postgres" ] && [ -n "$(ls -A "$DIR")" ]; then
        say "$DIR exists and was not made by this script; not touching it"; return 1
    fi
    rm -rf "$DIR"
}

find_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) /usr/local/pgsql/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"; return 0
    fi
    return 1
}

install_postgres() {
    say "no PostgreSQL found: installing the Debian package"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql >&2
}

free_port() {
    local port python
    for python in python3 python; do
        if command -v "$python" >/dev/null; then
            "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
            return 0
        fi
    done
    for port in $(seq 54329 54400); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    say "no free port found"; return 1
}

running() { [ -f "$ENV_FILE" ] && [ -d "$DATA" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

create_cluster() {
    local port=$1 password=$2
    wipe_dir
    mkdir -p "$DATA" "$DIR/socket"
    touch "$DIR/.fedward-postgres"
    chmod 700 "$DATA"
    if [ "$(id -u)" = 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir "$DIR" --shell /bin/sh postgres
        chown -R postgres: "$DIR"
    fi
    as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --no-locale -E UTF8 >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; return 1; }
    # A test server: loopback only; it need not survive a power cut, so it does not fsync.
    cat <<EOF | as_pg tee -a "$DATA/postgresql.conf" >/dev/null
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$DIR/socket'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
EOF
}

start_server() {
    local port=$1 password=$2 tries
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null || {
        say "the server did not start; its log:"; cat "$DIR/server.log" >&2; return 1; }
    as_pg "$BIN/psql" -h "$DIR/socket" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$password'" \
        -c "CREATE DATABASE $DB OWNER $DB_USER" >&2
    for tries in $(seq 1 60); do
        if PGPASSWORD=$password as_pg "$BIN/psql" -h 127.0.0.1 -p "$port" -U "$DB_USER" -d "$DB" \
            -Atqc 'SELECT 1' >/dev/null 2>&1; then
            (umask 077 && echo "postgresql+psycopg://$DB_USER:$password@127.0.0.1:$port/$DB" >"$ENV_FILE")
            return 0
        fi
        sleep 0.5
    done
    say "the server did not accept connections; its log: $DIR/server.log"
    return 1
}

start() {
    local port password
    BIN=$(find_bin) || { install_postgres && BIN=$(find_bin); } || {
        say "PostgreSQL binaries not found after installing"; return 1; }
    if ! running; then
        port=$(free_port)
        password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
        create_cluster "$port" "$password"
        start_server "$port" "$password"
        say "$("$BIN/pg_ctl" --version) on 127.0.0.1:$port, data in $DATA"
    fi
    echo "export FEDWARD_TEST_POSTGRES_URL='$(cat "$ENV_FILE")'"
}

stop() {
    BIN=$(find_bin) || return 0
    if [ -d "$DATA" ] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    fi
    wipe_dir
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
