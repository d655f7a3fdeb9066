# Where the tests' PostgreSQL server lives and who runs it; sourced by start.sh and
# stop.sh.
#
# The cluster is keyed by its port: PARTSEMBLE_HOME/postgres-<port> holds the data
# directory, the server log and the superuser's password. PostgreSQL refuses to run as
# root, so under root the server runs as the `postgres` user; when that user cannot
# reach PARTSEMBLE_HOME (root's home is private), the files live in postgres' home and
# PARTSEMBLE_HOME/postgres-<port> is a link to them.

port=${PG_TEST_PORT:-55432}
home=${PARTSEMBLE_HOME:-$HOME/.cache/partsemble-build-export}
state=$home/postgres-$port
database=build_export_test

# The newest installed server's programs (Debian keeps them out of PATH), or PG_BINDIR.
server_bindir() {
    if [[ -n ${PG_BINDIR:-} ]]; then
        echo "$PG_BINDIR"
        return
    fi
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sort -V | tail -n 1)
    [[ -n $found ]] && dirname "$found"
}

# Runs a server program as the user that owns the cluster, from a directory it can read.
as_server_user() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

# The directory that really holds the cluster's files (state may be a link to it).
cluster_dir() {
    if [[ -L $state ]]; then
        readlink -f "$state"
    else
        echo "$state"
    fi
}
