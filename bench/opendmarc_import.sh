#!/usr/bin/env bash
# The baseline for dmarc-collector's history import (issue 5): Debian's opendmarc-import (Perl/DBI)
# into MariaDB on loopback, timed on the first N records of the same history file.
# Usage: bench/opendmarc_import.sh HISTORY_FILE RECORDS WORKDIR
# Starts a private mariadbd (own datadir, socket and port under WORKDIR, --no-defaults so the
# machine's MariaDB configuration is neither read nor touched), loads Debian's OpenDMARC schema,
# runs opendmarc-import with its default (auto-commit) behaviour, checks that every record landed
# (opendmarc-import exits 0 even when inserts fail), stops the server and prints one line:
#   opendmarc-import: <records> records in <seconds> s = <rate> records/s
set -euo pipefail

history=$1
records=$2
work=$3
schema=/usr/share/dbconfig-common/data/opendmarc/install/mysql

datadir="$work/mariadb-data"
sock="$work/mariadb.sock"
pidfile="$work/mariadb.pid"
log="$work/mariadb.log"
slice="$work/history-slice.txt"

# A free loopback port.
port=
for _ in $(seq 1 50); do
    candidate=$((20000 + RANDOM % 20000))
    if ! ss -Hltn "sport = :$candidate" 2>/dev/null | grep -q .; then
        port=$candidate
        break
    fi
done
[ -n "$port" ] || { echo "no free port" >&2; exit 1; }

rm -rf "$datadir" "$sock" "$pidfile"
mkdir -p "$work"
mariadb-install-db --no-defaults --datadir="$datadir" --user="$(id -un)" \
    --auth-root-authentication-method=socket --skip-test-db >"$work/install-db.log" 2>&1 || {
    tail -20 "$work/install-db.log" >&2
    exit 1
}

# Server defaults otherwise (InnoDB, innodb_flush_log_at_trx_commit=1: what a Debian install
# gives opendmarc-import); UTC so that OpenDMARC's TIMESTAMP defaults are valid (opendmarc.md §4).
mariadbd --no-defaults --datadir="$datadir" --socket="$sock" --pid-file="$pidfile" \
    --skip-networking=0 --bind-address=127.0.0.1 --port="$port" --user="$(id -un)" \
    --default-time-zone=+00:00 --log-error="$log" 2>>"$log" &
server=$!
stop_server() {
    if kill -0 "$server" 2>/dev/null; then
        kill -TERM "$server" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$server" 2>/dev/null || break
            sleep 0.5
        done
        kill -KILL "$server" 2>/dev/null || true
    fi
    wait "$server" 2>/dev/null || true
}
trap 'stop_server; rm -rf "$datadir"' EXIT

sql() { mariadb --no-defaults --socket="$sock" -u root "$@"; }
for _ in $(seq 1 120); do
    mariadb-admin --no-defaults --socket="$sock" -u root ping >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { tail -20 "$log" >&2; exit 1; }
    sleep 0.5
done
sql <"$schema"
# History written before ARC support (1.3.x, and most of the bench's records) has no `arc` and
# `arc_policy` lines; opendmarc-import then inserts NULL into these NOT NULL columns and loses the
# record ("Column 'arc' cannot be null", opendmarc.md §4 #217/#219). Allowing NULL there lets every
# record land, so the rate counts stored records; it removes no work from opendmarc-import.
sql opendmarc -e "ALTER TABLE messages MODIFY arc TINYINT UNSIGNED NULL,
                  MODIFY arc_policy TINYINT UNSIGNED NULL"
sql -e "CREATE USER 'opendmarc'@'127.0.0.1' IDENTIFIED BY 'opendmarc';
        GRANT ALL ON opendmarc.* TO 'opendmarc'@'127.0.0.1';"

# The first RECORDS records (a record starts at its `job` line).
awk -v limit="$records" '/^job / { if (++n > limit) exit } { print }' "$history" >"$slice"
have=$(grep -c '^job ' "$slice" || true)

start=$(date +%s.%N)
opendmarc-import --dbhost=127.0.0.1 --dbport="$port" --dbname=opendmarc --dbuser=opendmarc \
    --dbpasswd=opendmarc --input="$slice" 2>"$work/opendmarc-import.err"
end=$(date +%s.%N)

stored=$(sql -N -e "SELECT count(*) FROM opendmarc.messages")
if [ "$stored" != "$have" ]; then
    echo "opendmarc-import stored $stored of $have records; see $work/opendmarc-import.err:" >&2
    head -5 "$work/opendmarc-import.err" >&2
    exit 1
fi
awk -v n="$have" -v s="$start" -v e="$end" \
    'BEGIN { t = e - s; printf "opendmarc-import: %d records in %.1f s = %.0f records/s\n", n, t, n / t }'
