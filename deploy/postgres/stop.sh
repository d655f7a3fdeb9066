#!/usr/bin/env bash
# Stops the tests' PostgreSQL server; its cluster stays for the next start.sh.
set -euo pipefail
source "$(dirname "$0")/common.sh"

bindir=$(server_bindir) || true
dir=$(cluster_dir)
if [[ -z $bindir || ! -f $dir/data/PG_VERSION ]]; then
    echo "no PostgreSQL cluster in $state" >&2
    exit 0
fi
if as_server_user "$bindir/pg_ctl" --pgdata="$dir/data" status >/dev/null 2>&1; then
    as_server_user "$bindir/pg_ctl" --pgdata="$dir/data" --mode=fast --wait stop >&2
else
    echo "PostgreSQL on 127.0.0.1:$port is not running" >&2
fi
