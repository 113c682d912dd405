#!/usr/bin/env bash
# ctest entry: the browser tests once more with dmarc-web on PostgreSQL. Starts a private server
# (initdb in a temporary directory, loopback only, a free port; as the postgres user when run as
# root, which PostgreSQL refuses), runs run.sh against a fresh database and stops the server.
# Screenshots go to BUILD_DIR/screenshots-postgres. Usage: run_postgres.sh BUILD_DIR DMARC_WEB WEB_SEED
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2
    exit 1
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/dmarc-web-browser-pg-XXXXXX")
as_owner() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$1"; else sh -c "$1"; fi
}
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
stop() {
    as_owner "$bin/pg_ctl -D $dir/data -m immediate stop" >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
as_owner "$bin/initdb -D $dir/data -A trust -U dmarc >$dir/initdb.log 2>&1"
started=
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 30000))
    if as_owner "$bin/pg_ctl -D $dir/data -o \"-k $dir -c listen_addresses=127.0.0.1 -p $port -c fsync=off\" -l $dir/server.log -w start >/dev/null 2>&1"; then
        started=1
        break
    fi
done
[ -n "$started" ] || { cat "$dir/server.log" >&2; exit 1; }
"$bin/createdb" -h 127.0.0.1 -p "$port" -U dmarc dmarc
DMARC_BROWSER_STORE="postgresql://dmarc@127.0.0.1:$port/dmarc" DMARC_BROWSER_SHOTS=screenshots-postgres \
    "$here/run.sh" "$@"
