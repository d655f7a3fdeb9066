#!/usr/bin/env bash
# Starts the tests' throwaway PostgreSQL server and prints its SQLAlchemy URL.
#
# Idempotent: installs the server with apt-get only when its programs are missing,
# creates the cluster (127.0.0.1 only, port PG_TEST_PORT, password authentication) and
# the database build_export_test when they are missing, starts the server unless it
# runs, and waits until it answers. Progress goes to stderr, the URL alone to stdout.
set -euo pipefail
source "$(dirname "$0")/common.sh"

install_server() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "no PostgreSQL server is installed: install Debian's postgresql package," \
            "or set PG_BINDIR to the directory of its programs" >&2
        exit 1
    fi
    echo "installing PostgreSQL with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    local install=(apt-get install -q -y --no-install-recommends
        -o DPkg::Lock::Timeout=300 postgresql)
    # A fresh machine may have no package lists, or stale ones: update them only then.
    "${install[@]}" >&2 || { apt-get update -q >&2 && "${install[@]}" >&2; }
}

# Makes $state: a directory the server user owns, or a link to one in its home.
prepare_state() {
    if [[ -L $state && ! -e $state ]]; then
        rm "$state"  # its target was removed: start afresh
    fi
    [[ -e $state ]] && return
    if [[ $(id -u) -ne 0 ]]; then
        mkdir -m 700 "$state"
    elif runuser -u postgres -- test -x "$home"; then
        install -d -o postgres -g postgres -m 700 "$state"
    else
        local real
        real=$(getent passwd postgres | cut -d: -f6)/partsemble-build-export/postgres-$port
        install -d -o postgres -g postgres -m 700 "$real"
        ln -s "$real" "$state"
    fi
}

init_cluster() {
    [[ -f $dir/data/PG_VERSION ]] && return
    echo "creating a PostgreSQL cluster in $dir/data" >&2
    as_server_user rm -rf "$dir/data"  # what an interrupted run left
    as_server_user sh -c 'umask 077; head -c 18 /dev/urandom | base64 | tr "+/" "-_" >"$1"' \
        _ "$dir/password"
    if ! as_server_user "$bindir/initdb" --pgdata="$dir/data" --username=postgres \
        --pwfile="$dir/password" --auth=scram-sha-256 --encoding=UTF8 --no-locale \
        --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        exit 1
    fi
    as_server_user tee -a "$dir/data/postgresql.conf" >/dev/null <<EOF

# The tests' throwaway server: loopback only, no Unix socket, no durability.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = off
full_page_writes = off
EOF
}

start_server() {
    if as_server_user "$bindir/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1; then
        return
    fi
    echo "starting PostgreSQL on 127.0.0.1:$port" >&2
    # 9>&-: the server must not inherit the lock, or it would hold it while it runs.
    if ! as_server_user "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" \
        --wait --timeout=60 start >/dev/null 9>&-; then
        echo "PostgreSQL did not start (a port in use by another program is fixed by" \
            "setting PG_TEST_PORT); the end of $dir/server.log:" >&2
        tail -n 20 "$dir/server.log" >&2
        exit 1
    fi
}

admin_sql() {
    PGPASSWORD=$password PGCONNECT_TIMEOUT=5 "$bindir/psql" --no-psqlrc --quiet \
        --tuples-only --no-align --set=ON_ERROR_STOP=1 \
        --host=127.0.0.1 --port="$port" --username=postgres --dbname=postgres \
        --command="$1"
}

wait_until_it_answers() {
    for _ in $(seq 60); do
        admin_sql 'SELECT 1' >/dev/null 2>&1 && return
        sleep 0.5
    done
    echo "PostgreSQL on 127.0.0.1:$port does not answer; see $dir/server.log" >&2
    exit 1
}

bindir=$(server_bindir) || install_server
bindir=$(server_bindir) || { echo "no PostgreSQL server after installing it" >&2; exit 1; }

mkdir -p "$home"
# One start at a time per port: two test runs starting together share one cluster.
exec 9>>"$home/postgres-$port.lock"
flock 9

prepare_state
dir=$(cluster_dir)
init_cluster
start_server
password=$(<"$dir/password")
wait_until_it_answers
if [[ -z $(admin_sql "SELECT 1 FROM pg_database WHERE datname = '$database'") ]]; then
    admin_sql "CREATE DATABASE $database" >/dev/null
fi

echo "postgresql+psycopg://postgres:$password@127.0.0.1:$port/$database"
